"""Where the batches of a sweep run: in this process (default), on a Ray cluster, or as Slurm jobs.

An executor maps a function over a list of batches and yields ``(index, result)`` pairs as
batches finish, in any order; the sweep runner (in this process, the *driver*) stores each
result the moment it arrives, so the choice of executor changes where work runs, never
what is computed or stored: every batch is seeded from its units, so the rows are the same
whatever the executor, and an interrupted run resumes from the driver's store under any
of them.

    LocalExecutor   one batch after another in this process, on the sweep's device.
    RayExecutor     every batch a Ray task (``pip install ray``); connects to ``address``
                    (an existing cluster, e.g. "auto" on a head node, or "ray://host:10001")
                    or starts a local Ray instance.
    SlurmExecutor   every batch a Slurm job through submitit (``pip install submitit``), at
                    most ``max_in_flight`` queued or running at once; ``cluster="local"`` runs
                    the jobs as processes on this machine instead (submitit's local executor:
                    try a setup without a cluster; what the tests use).

A batch shipped to a Ray task or a Slurm job is pickled with its function (cloudpickle);
the run context inside it is a light copy (no store, no progress display: see
``RunContext.__getstate__``), and the task keeps to ``cpus_per_task`` CPU threads. The
``clustertheory`` and ``simulations`` packages must be importable where the tasks run (an
editable install on a shared filesystem, the usual setup on a university cluster).
"""

from __future__ import annotations

import math
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

from .config import check_in, check_nonneg, check_positive, check_positive_int

EXECUTORS = ("local", "ray", "slurm")
SLURM_CLUSTERS = ("slurm", "local")


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


class InTask:
    """``fn`` as it runs inside a task on another process: on at most ``threads`` CPU threads.

    Without the limit a task would use every core of its node (torch's default), however
    many CPUs the scheduler reserved for it, and tasks sharing a node would slow one another.
    """

    def __init__(self, fn: Callable[[Any], Any], threads: int):
        self.fn, self.threads = fn, threads

    def __call__(self, batch: Any) -> Any:
        from .utils import limit_threads

        with limit_threads(self.threads):
            return self.fn(batch)


def _run_task(task: InTask, batch: Any) -> Any:
    """A Ray task: one batch."""
    return task(batch)


class RayExecutor:
    """Run every batch as a Ray task and yield results as tasks finish.

    address: Ray cluster address (None starts or reuses a local instance; "auto" joins the
    cluster this machine belongs to). num_cpus_per_task / num_gpus_per_task: resources Ray
    reserves per batch (a task with a GPU sees it as "cuda"; run with ``--device cuda``).
    max_in_flight: tasks submitted at once (None: all), which bounds the memory held by
    queued arguments. init_kwargs go to ``ray.init`` (e.g. num_cpus). If the consumer stops
    early (an error or Ctrl-C), unfinished tasks are cancelled.
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
            raise ImportError("the ray executor needs Ray: pip install 'clustertheory[cluster]' (or pip install ray)") from error
        if not ray.is_initialized():
            ray.init(address=self.address, ignore_reinit_error=True, log_to_driver=False, **self.init_kwargs)
        return ray

    def map_unordered(self, fn: Callable[[Any], Any], batches: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        ray = self._ray()
        task = ray.put(InTask(fn, max(1, math.ceil(self.num_cpus_per_task))))  # shipped once, not per batch
        remote = ray.remote(num_cpus=self.num_cpus_per_task, num_gpus=self.num_gpus_per_task)(_run_task)
        limit = self.max_in_flight or max(len(batches), 1)
        waiting = list(enumerate(batches))[::-1]
        running: dict[Any, int] = {}
        try:
            while waiting or running:
                while waiting and len(running) < limit:
                    index, batch = waiting.pop()
                    running[remote.remote(task, batch)] = index
                (done,), _ = ray.wait(list(running), num_returns=1)
                index = running.pop(done)
                yield index, ray.get(done)
        finally:
            for ref in running:
                ray.cancel(ref, force=True)

    def __repr__(self) -> str:
        return f"RayExecutor(address={self.address!r}, num_cpus_per_task={self.num_cpus_per_task}, num_gpus_per_task={self.num_gpus_per_task})"


class SlurmExecutor:
    """Run every batch as a Slurm job through submitit, at most ``max_in_flight`` at once.

    folder: where submitit keeps each job's pickled call, result and logs (``%j`` is the job
    id); on a cluster it must be on a filesystem the compute nodes share. cluster: "slurm"
    (sbatch) or "local" (submitit's local executor: each job a process on this machine).
    cpus_per_task / gpus_per_task / mem_gb / timeout_min / partition: the job's resources
    (gpus_per_task > 0 asks Slurm for that many GPUs per job; run with ``--device cuda``).
    max_in_flight: jobs queued or running at once (default 64; the first wave goes out as
    one job array). slurm_parameters: any other ``sbatch`` setting submitit knows, without
    its ``slurm_`` prefix (``account="lab"``, ``qos="short"``, ``constraint="a100"``,
    ``setup=["module load cuda"]``). poll_s: seconds between looks at the queue (submitit
    caches its ``sacct`` calls on a real cluster). A finished job's files are removed once its
result is in the driver; a failed job's stay, with its logs. If the consumer stops early (an error or
    Ctrl-C), the jobs still queued or running are cancelled (``scancel``).
    """

    def __init__(
        self,
        folder: str | Path = "results/submitit",
        cluster: str = "slurm",
        cpus_per_task: int = 1,
        gpus_per_task: int = 0,
        mem_gb: float | None = None,
        timeout_min: int = 60,
        partition: str | None = None,
        max_in_flight: int | None = None,
        poll_s: float = 1.0,
        **slurm_parameters,
    ):
        self.folder = Path(folder)
        self.cluster = check_in("cluster", cluster, SLURM_CLUSTERS)
        self.cpus_per_task = check_positive_int("cpus_per_task", cpus_per_task)
        self.gpus_per_task = int(check_nonneg("gpus_per_task", gpus_per_task))
        if self.gpus_per_task != gpus_per_task:
            raise ValueError(f"gpus_per_task must be a whole number for Slurm, got {gpus_per_task!r}")
        self.mem_gb = None if mem_gb is None else check_positive("mem_gb", mem_gb)
        self.timeout_min = check_positive_int("timeout_min", timeout_min)
        self.partition = partition
        self.max_in_flight = 64 if max_in_flight is None else check_positive_int("max_in_flight", max_in_flight)
        self.poll_s = check_positive("poll_s", poll_s)
        self.slurm_parameters = slurm_parameters

    def _executor(self):
        try:
            import submitit
        except ImportError as error:
            raise ImportError("the slurm executor needs submitit: pip install 'clustertheory[cluster]' (or pip install submitit)") from error
        executor = submitit.AutoExecutor(folder=self.folder / "%j", cluster=self.cluster)
        parameters: dict[str, Any] = {
            "name": "clustertheory",
            "cpus_per_task": self.cpus_per_task,
            "timeout_min": self.timeout_min,
            "tasks_per_node": 1,
            "nodes": 1,
        }
        if self.gpus_per_task:
            parameters["gpus_per_node"] = self.gpus_per_task
        if self.mem_gb is not None:
            parameters["mem_gb"] = self.mem_gb
        if self.partition is not None:
            parameters["slurm_partition"] = self.partition
        parameters.update({f"slurm_{key}": value for key, value in self.slurm_parameters.items()})
        executor.update_parameters(**parameters)
        return executor

    def map_unordered(self, fn: Callable[[Any], Any], batches: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        executor = self._executor()
        task = InTask(fn, self.cpus_per_task)
        waiting = list(enumerate(batches))[::-1]
        running: dict[Any, int] = {}

        def submit(count: int) -> None:
            wave = [waiting.pop() for _ in range(min(count, len(waiting)))]
            if not wave:
                return
            if len(wave) == 1:
                jobs = [executor.submit(task, wave[0][1])]
            else:
                with executor.batch():  # one job array
                    jobs = [executor.submit(task, batch) for _, batch in wave]
            running.update({job: index for job, (index, _) in zip(jobs, wave)})

        try:
            submit(self.max_in_flight)
            while running:
                finished = [job for job in running if job.done()]
                if not finished:
                    time.sleep(self.poll_s)
                    continue
                for job in finished:
                    index = running.pop(job)
                    result = job.result()  # a failed job raises here, with its traceback (its files stay)
                    shutil.rmtree(job.paths.folder, ignore_errors=True)  # the driver holds the result now
                    yield index, result
                submit(self.max_in_flight - len(running))
        finally:
            for job in running:
                job.cancel(check=False)

    def __repr__(self) -> str:
        return f"SlurmExecutor(folder={str(self.folder)!r}, cluster={self.cluster!r}, cpus_per_task={self.cpus_per_task}, gpus_per_task={self.gpus_per_task})"


def make_executor(name: str = "local", **options) -> LocalExecutor | RayExecutor | SlurmExecutor:
    """An executor by name: "local" (no options), "ray" (options of :class:`RayExecutor`) or
    "slurm" (options of :class:`SlurmExecutor`)."""
    check_in("executor", name, EXECUTORS)
    if name == "local":
        if options:
            raise ValueError(f"the local executor takes no options, got {sorted(options)}")
        return LocalExecutor()
    if name == "ray":
        return RayExecutor(**options)
    return SlurmExecutor(**options)


def is_local(executor: Executor | None) -> bool:
    """True for no executor or the in-process one."""
    return executor is None or isinstance(executor, LocalExecutor)
