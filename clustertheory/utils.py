"""Seeding and device selection: the only places randomness and hardware are chosen."""

from __future__ import annotations

import hashlib
import random

import numpy as np
import torch


def seed_everything(seed: int) -> np.random.Generator:
    """Seed python, numpy and torch; return a fresh numpy Generator for explicit use."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return np.random.default_rng(seed)


def derive_seed(base: int, *keys) -> int:
    """A deterministic 31-bit seed from a base seed and any printable keys.

    Used so that each unit of a sweep gets its own reproducible stream that does not
    depend on the order in which units run.
    """
    text = repr((int(base),) + tuple(keys)).encode()
    return int.from_bytes(hashlib.sha256(text).digest()[:4], "little") & 0x7FFFFFFF


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """CUDA when available and no device was asked for, else CPU; validate explicit requests."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(device)
    except RuntimeError:
        raise ValueError(f"device must name a torch device such as 'cpu' or 'cuda', got {device!r}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={str(device)!r} requested but CUDA is not available; use 'cpu'")
    return device


def torch_generator(seed: int, device: torch.device | str = "cpu") -> torch.Generator:
    """A torch Generator on ``device`` seeded with ``seed``."""
    gen = torch.Generator(device=torch.device(device))
    gen.manual_seed(int(seed))
    return gen
