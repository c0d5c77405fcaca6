"""Settings of an ensemble of small real-valued encoders: E seeds trained in one pass.

    EncoderSettings   a nested settings block (out_dim, width, depth, init_scale, dropout,
                      layer_norm) that builds an :class:`~clustertheory.functions.encoders.EnsembleMLP`

The network itself is :class:`clustertheory.functions.encoders.EnsembleMLP`: one weight
tensor per layer of shape (E, fan_in, fan_out), so every step is a few batched matrix
products whatever E is, and member e starts where the same seed alone would.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..config import Boolean, Integer, Real, Settings, setting
from .encoders import EnsembleMLP


@dataclass(frozen=True)
class EncoderSettings(Settings):
    """Shape and start of an :class:`EnsembleMLP` (a nested settings block of a simulation)."""

    out_dim: int = setting(8, Integer(1), "embedding size d")
    width: int = setting(64, Integer(1), "hidden units per layer")
    depth: int = setting(1, Integer(0), "hidden layers (0: linear)")
    init_scale: float = setting(1.0, Real(0, open_lo=True), "factor on torch.nn.Linear's initial law (1: the default; < 1: small initialisation)")
    dropout: float = setting(0.0, Real(0, 1, open_hi=True), "dropout probability on the input and after every hidden layer (0: none)")
    layer_norm: bool = setting(False, Boolean(), "a layer norm (own gain and bias per member) before every hidden ReLU")

    def check_dropout_augmentation(self) -> None:
        """Raise ValueError unless these settings can make their own positive pairs from dropout
        (dropout as the only augmentation): out_dim >= 2, depth >= 1 and dropout > 0."""
        if self.out_dim < 2 or self.depth < 1 or self.dropout == 0:
            raise ValueError("encoder needs out_dim >= 2, depth >= 1 and dropout > 0 (dropout is the only augmentation)")

    def build(self, in_dim: int, seeds: Sequence[int], device=None, mask_seed: int | None = None) -> EnsembleMLP:
        """The ensemble these settings describe, one member per seed (dropout masks from
        ``mask_seed``; default ``seeds[0] + 1``)."""
        return EnsembleMLP(in_dim, self.out_dim, seeds, width=self.width, depth=self.depth, dropout=self.dropout,
                           layer_norm=self.layer_norm, mask_seed=mask_seed, init_scale=self.init_scale, device=device)

    def copy_members(self, start: EnsembleMLP, index: Sequence[int], seeds: Sequence[int], device=None, mask_seed: int | None = None) -> EnsembleMLP:
        """A new ensemble of these settings whose member k is a copy of ``start``'s member
        ``index[k]`` (every parameter tensor's slice; ``start`` is left alone), e.g. one copy of
        a pretrained ensemble per arm. ``seeds`` (one per copy) only build the shell; its dropout
        masks come from a fresh generator seeded with ``mask_seed`` (default ``seeds[0] + 1``)."""
        if len(index) != len(seeds):
            raise ValueError(f"index and seeds must have one item per copied member, got {len(index)} and {len(seeds)}")
        encoder = self.build(start.in_dim, seeds, device, mask_seed=mask_seed)
        encoder.load_state_dict({k: v[list(index)] for k, v in start.state_dict().items()})
        return encoder
