"""Contrastive losses as pure functions; formula, candidates and chance value in each docstring.

Where each loss lives:

- ``primitives``: ``masked_logsumexp`` / ``masked_log_softmax``, the one numerically
  safe row-wise reduction every loss below is built on.
- ``infonce``: ``infonce`` (K explicit or in-batch negatives; symmetric / NT-Xent
  options), ``hypercube_infonce`` (the paper's beta-form on hypercube codes),
  ``supcon_out`` (SupCon L_out), ``decoupled`` (positive removed from the denominator).
- ``debiased``: ``debiased`` (Chuang et al. 2020), ``hard_debiased`` (Robinson et al. 2021),
  ``debiased_from_similarities`` (both from precomputed similarities, with the floor flags).
- ``dimension_wise``: ``dimension_wise`` (SimCSE++ InfoNCE over dimensions),
  ``barlow_decorrelation`` (Barlow Twins), ``cross_correlation``, ``standardize_batch``.
- ``off_dropout``: ``dropout_infonce`` (in-batch InfoNCE of dropout views: SimCSE's
  negatives, or SimCSE++ off-dropout negatives from a third embedding; any leading
  member dimensions), ``negative_views`` (the embedding the negatives come from: none, a
  dropout-off pass, or the mean of several dropout passes), ``off_dropout_infonce`` (runs
  the three passes of a model) and ``dropout_arm_loss`` (the same for any negative source,
  per ensemble member, with the views).
- ``hard_negatives``: ``hard_negative_indices``, ``select_hard_negatives``,
  ``synthesize_hard_negatives`` (mixing, MoCHi-style; detached), and the ways of using K
  negatives the hard-negative simulation compares (``NEGATIVE_METHODS``, ``method_settings``,
  ``select_negatives``).
- ``spectral``: spectral contrastive losses (``spectral_ucl``, ``spectral_scl``,
  ``spectral_joint``, ``spectral_contrastive``) and their moment forms.
"""

from clustertheory.losses.debiased import debiased, debiased_from_similarities, hard_debiased
from clustertheory.losses.dimension_wise import (
    barlow_decorrelation,
    cross_correlation,
    dimension_wise,
    standardize_batch,
)
from clustertheory.losses.hard_negatives import (
    hard_negative_indices,
    select_hard_negatives,
    synthesize_hard_negatives,
)
from clustertheory.losses.infonce import (
    decoupled,
    hypercube_infonce,
    infonce,
    supcon_out,
)
from clustertheory.losses.off_dropout import dropout_arm_loss, dropout_infonce, negative_views, off_dropout_infonce
from clustertheory.losses.primitives import masked_log_softmax, masked_logsumexp

from .spectral import spectral_contrastive, spectral_joint, spectral_scl, spectral_ucl

__all__ = [
    "barlow_decorrelation",
    "cross_correlation",
    "debiased",
    "debiased_from_similarities",
    "decoupled",
    "dimension_wise",
    "dropout_infonce",
    "hard_debiased",
    "hard_negative_indices",
    "hypercube_infonce",
    "infonce",
    "masked_log_softmax",
    "masked_logsumexp",
    "negative_views",
    "off_dropout_infonce",
    "dropout_arm_loss",
    "select_hard_negatives",
    "spectral_contrastive",
    "spectral_joint",
    "spectral_scl",
    "spectral_ucl",
    "standardize_batch",
    "supcon_out",
    "synthesize_hard_negatives",
]
