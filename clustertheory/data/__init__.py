"""Data: latent content/style datasets with exact augmentation graphs, and samplers."""

from .collapse import CollapseConfig, CollapseData, CollapsePairSampler, collapse_dataset
from .dropout import LatentSentences, SentenceSettings, latent_sentences
from .generators import agnostic_comb, comb_dataset, jitter_dataset, observe
from .graph import augmentation_graph, base_components, base_kernel, cluster_components, spectral_gap, stationary_law, view_kernel
from .sampling import MemberPairSampler, PairSampler
from .views import ViewDataset

__all__ = [
    "ViewDataset",
    "comb_dataset",
    "agnostic_comb",
    "jitter_dataset",
    "observe",
    "augmentation_graph",
    "base_components",
    "base_kernel",
    "cluster_components",
    "spectral_gap",
    "stationary_law",
    "view_kernel",
    "PairSampler",
    "MemberPairSampler",
    "CollapseConfig",
    "CollapseData",
    "CollapsePairSampler",
    "collapse_dataset",
    "LatentSentences",
    "SentenceSettings",
    "latent_sentences",
]
