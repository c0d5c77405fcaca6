"""Seeding, device selection and thread limits: the only places randomness and hardware are chosen."""

from __future__ import annotations

import hashlib
import os
import random
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch
from threadpoolctl import ThreadpoolController


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


PARALLEL_ELEMENTS = 2**22  # CPU work touching fewer elements per operation runs on one thread


def available_cores() -> int:
    """CPU cores this process may run on (the affinity mask, else the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


_CONTROLLER: list[ThreadpoolController] = []


def _threadpools() -> ThreadpoolController:
    """The BLAS / OpenMP pools of this process, found once: scanning the loaded libraries
    costs about 15 ms, and the exact losses limit threads thousands of times per run."""
    if not _CONTROLLER:
        _CONTROLLER.append(ThreadpoolController())
    return _CONTROLLER[0]


@contextmanager
def limit_threads(threads: int | None) -> Iterator[None]:
    """Run the enclosed work on at most ``threads`` CPU threads: torch's intra-op pool and
    every BLAS / OpenMP pool numpy, scipy and scikit-learn use (threadpoolctl). ``None``
    changes nothing. The previous limits are restored on exit.

    Why: the models and arrays here are small, so threads mostly add hand-offs; and when
    ``clustertheory reproduce`` runs several simulations side by side, each must keep to its
    share of the cores or they slow one another down.
    """
    if threads is None:
        yield
        return
    if threads < 1:
        raise ValueError(f"threads must be >= 1 or None, got {threads!r}")
    previous = torch.get_num_threads()
    torch.set_num_threads(int(threads))
    try:
        with _threadpools().limit(limits=int(threads)):
            yield
    finally:
        torch.set_num_threads(previous)


@contextmanager
def one_thread_below(elements: int, limit: int = PARALLEL_ELEMENTS) -> Iterator[None]:
    """Run the enclosed torch CPU work on one intra-op thread when it touches fewer than
    ``limit`` elements per operation (restored on exit).

    Small operations gain nothing from threads, and on a busy machine each parallel region
    can stall for milliseconds: measured 2 ms on one thread against 200 ms on two for one
    Laplace evaluation of 80 laws on a loaded 2-core machine. Only torch's pool is touched:
    the loops that call this run thousands of times, and a threadpoolctl limit costs about
    40 us a call against under 1 us for ``torch.set_num_threads``.
    """
    if elements >= limit:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def one_blas_thread():
    """A context running numpy / scipy's BLAS and LAPACK on one thread (threadpoolctl).

    On a busy 2-core machine a threaded LAPACK call stalls (measured: eigh of a 203 x 203
    matrix 5.8 s on two threads against 0.1 s on one; 2001 x 2001: 7.9 s against 2.7 s), and
    one thread costs little when the CPU is idle.
    """
    return _threadpools().limit(limits=1, user_api="blas")
