"""Where the batches of a sweep run: in this process (default) or on a Ray cluster.

An executor maps a function over a list of batches and yields ``(index, result)`` pairs as
batches finish, in any order; the sweep runner stores each result the moment it arrives, so
the choice of executor changes where work runs, never what is stored or skipped.

    LocalExecutor   one batch after another in this process, on the sweep's device.
    RayExecutor     every batch a Ray task (optional extra: ``pip install clustertheory[ray]``);
                    connects to ``address`` (an existing cluster, e.g. "auto" on a head node)
                    or starts a local Ray instance. ``num_gpus_per_task`` > 0 lets Ray pin
                    one GPU (or a fraction) per task; the task then sees it as "cuda".
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol

from .config import check_in, check_nonneg, check_positive, check_positive_int

EXECUTORS = ("local", "ray")


class Executor(Protocol):
    """Anything with ``map_unordered(fn, batches) -> iterator of (index, fn(batches[index]))``."""

    def map_unordered(self, fn: Callable[[Any], Any], batches: Sequence[Any]) -> Iterator[tuple[int, Any]]: ...


class LocalExecutor:
    """Run batches one after another in this process (results arrive in order)."""

    def map_unordered(self, fn: Callable[[Any], Any], batches: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        for index, batch in enumerate(batches):
            yield index, fn(batch)

    def __repr__(self) -> str:
        return "LocalExecutor()"


class RayExecutor:
    """Run every batch as a Ray task and yield results as tasks finish.

    address: Ray cluster address (None starts or reuses a local instance; "auto" joins the
    cluster this machine belongs to). num_cpus_per_task / num_gpus_per_task: resources Ray
    reserves per batch. max_in_flight: tasks submitted at once (None: all), which bounds
    the memory held by queued arguments. init_kwargs go to ``ray.init`` (e.g. num_cpus).
    If the consumer stops early (an error or Ctrl-C), unfinished tasks are cancelled.
    """

    def __init__(
        self,
        address: str | None = None,
        num_cpus_per_task: float = 1,
        num_gpus_per_task: float = 0,
        max_in_flight: int | None = None,
        **init_kwargs,
    ):
        self.address = address
        self.num_cpus_per_task = check_positive("num_cpus_per_task", num_cpus_per_task)
        self.num_gpus_per_task = check_nonneg("num_gpus_per_task", num_gpus_per_task)
        self.max_in_flight = None if max_in_flight is None else check_positive_int("max_in_flight", max_in_flight)
        self.init_kwargs = init_kwargs

    def _ray(self):
        try:
            import ray
        except ImportError as error:
            raise ImportError("RayExecutor needs Ray: pip install 'clustertheory[ray]'") from error
        if not ray.is_initialized():
            ray.init(address=self.address, ignore_reinit_error=True, log_to_driver=False, **self.init_kwargs)
        return ray

    def map_unordered(self, fn: Callable[[Any], Any], batches: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        ray = self._ray()
        remote = ray.remote(num_cpus=self.num_cpus_per_task, num_gpus=self.num_gpus_per_task)(fn)
        limit = self.max_in_flight or max(len(batches), 1)
        waiting = list(enumerate(batches))[::-1]
        running: dict[Any, int] = {}
        try:
            while waiting or running:
                while waiting and len(running) < limit:
                    index, batch = waiting.pop()
                    running[remote.remote(batch)] = index
                (done,), _ = ray.wait(list(running), num_returns=1)
                index = running.pop(done)
                yield index, ray.get(done)
        finally:
            for ref in running:
                ray.cancel(ref, force=True)

    def __repr__(self) -> str:
        return f"RayExecutor(address={self.address!r}, num_cpus_per_task={self.num_cpus_per_task}, num_gpus_per_task={self.num_gpus_per_task})"


def make_executor(name: str = "local", **options) -> LocalExecutor | RayExecutor:
    """An executor by name: "local" (no options) or "ray" (options of :class:`RayExecutor`)."""
    check_in("executor", name, EXECUTORS)
    if name == "local":
        if options:
            raise ValueError(f"the local executor takes no options, got {sorted(options)}")
        return LocalExecutor()
    return RayExecutor(**options)
