"""Command line: ``clustertheory list | run NAME | reproduce | report``."""

from __future__ import annotations

import argparse
import importlib.util
import sys

from pathlib import Path

from .executors import EXECUTORS, SLURM_CLUSTERS, make_executor
from .plotting import use_file_backend
from .reproduce import reproduce, summary_table
from .report import write_claims_index, write_report
from .simulation import build_config, discover, get_simulation, parse_overrides, run_simulation

EPILOG = """examples:
  clustertheory list                          every simulation, one line each
  clustertheory list --long                   with its claims, settings and their allowed values
  clustertheory run theorem-4.5               default scale: writes results/ and figures/, prints the verdict
  clustertheory run theorem-4.5 --set seed=3 --set train.beta=1
  clustertheory run phase-diagram --scale paper --device cuda
  clustertheory reproduce                     every simulation at default scale, side by side (--jobs),
                                              then the results page results/index.html
  clustertheory report                        (re)write results/index.html from the results files
  clustertheory run phase-diagram --executor ray                       sweep batches as Ray tasks (local Ray)
  clustertheory run phase-diagram --executor ray --ray-address auto    ... on the Ray cluster of this node
  clustertheory run phase-diagram --executor slurm --slurm-partition gpu --gpus-per-task 1 --device cuda
  clustertheory reproduce --executor slurm --max-in-flight 200         every simulation, batches as Slurm jobs

Every run writes results/<run>.csv (tidy rows with config and seed), results/<run>.json
(config, verdict, versions, times) and figures/<run>.png, where <run> is the simulation name
followed by every setting that differs from the default. An interrupted run keeps its
finished work in results/<run>.partial.jsonl and resumes from it when started again.

executors (where the batches of a simulation's sweeps run; results are the same under each):
  local   in this process, one batch after another (default)
  ray     every batch a Ray task: a local Ray instance, or the cluster at --ray-address
  slurm   every batch a Slurm job through submitit (--slurm-cluster local: jobs as processes
          on this machine, to try a setup without a cluster)
  The results and the resume store stay with the command (the driver); an interrupted run
  resumes under any executor. With --executor ray|slurm, `reproduce` runs the simulations one
  at a time and the executor spreads each one's batches (--jobs does not apply).
  Ray and submitit: pip install 'clustertheory[cluster]'.

verdicts:
  package checks  the package's own correctness (exact identities, agreement with references
                  or simulation, the setting being what it says): PASS or FAIL
  claims          statements of papers, each with an effect, a 95% interval over seeds and its
                  preconditions: reproduced | not-reproduced | inconclusive | not-testable
                  (not-testable: a precondition failed, the run was not in the claim's regime)

exit status:
  0  every simulation ran (and, with --strict, every package check passed); the status of a
     claim never changes the exit status
  1  --strict and a package check FAILED, a simulation stopped with an error, or the
     results page could not be written
  2  bad command line or config value (nothing was run)
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="clustertheory",
        description="Check the theory of contrastive learning by exact computation and simulation.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p_list = sub.add_parser("list", help="list the simulations")
    p_list.add_argument("--long", action="store_true", help="also print each simulation's description and its settings with defaults and allowed values")

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--scale", default="default", help="named setting of the simulation: 'default' (laptop CPU, minutes) or 'paper' (full grid, meant for a GPU); default: %(default)s")
    common.add_argument("--device", default=None, help="torch device, e.g. cpu or cuda (default: cuda when available, else cpu)")
    common.add_argument("--results-dir", default="results", help="where results tables go (default: %(default)s)")
    common.add_argument("--figures-dir", default="figures", help="where figures go (default: %(default)s)")
    common.add_argument("--no-progress", action="store_true", help="hide progress bars")
    common.add_argument("--strict", action="store_true", help="exit with status 1 when a package check FAILs (claims never change the exit status)")

    where = common.add_argument_group("where sweep batches run (see 'executors' below)")
    where.add_argument("--executor", choices=EXECUTORS, default="local", help="local (this process, default), ray or slurm")
    where.add_argument("--max-batch", type=int, default=None, metavar="N", help="at most N units per batch (default: each simulation's own batching)")
    where.add_argument("--max-in-flight", type=int, default=None, metavar="N", help="ray/slurm: batches submitted at once (default: ray all, slurm 64)")
    where.add_argument("--cpus-per-task", type=float, default=1, metavar="X", help="ray/slurm: CPUs per batch; the batch keeps to that many threads (default: %(default)s)")
    where.add_argument("--gpus-per-task", type=float, default=0, metavar="X", help="ray/slurm: GPUs per batch (ray: fractions allowed); use with --device cuda (default: %(default)s)")
    where.add_argument("--ray-address", default=None, metavar="ADDR", help="ray: cluster to join ('auto', 'ray://host:10001'); default: start a local Ray instance")
    where.add_argument("--slurm-partition", default=None, metavar="NAME", help="slurm: partition")
    where.add_argument("--slurm-timeout-min", type=int, default=60, metavar="MIN", help="slurm: time limit per job in minutes (default: %(default)s)")
    where.add_argument("--slurm-mem-gb", type=float, default=None, metavar="GB", help="slurm: memory per job")
    where.add_argument("--slurm-folder", default=None, metavar="DIR", help="slurm: submitit's job files and logs, on a filesystem the nodes share (default: <results-dir>/submitit)")
    where.add_argument("--slurm-cluster", choices=SLURM_CLUSTERS, default="slurm", help="slurm: 'slurm' (sbatch) or 'local' (submitit's local executor: each job a process here); default: %(default)s")
    where.add_argument("--slurm-option", dest="slurm_options", action="append", default=[], metavar="KEY=VALUE", help="slurm: any other sbatch setting submitit knows, without 'slurm_' (account=lab, qos=short, constraint=a100); repeatable")

    p_run = sub.add_parser("run", parents=[common], help="run one simulation", epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p_run.add_argument("name", help="simulation name (see 'clustertheory list')")
    p_run.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help="override one config field (repeatable); nested fields dotted (train.beta=1); tuples as comma-separated values")
    p_run.add_argument("--threads", type=int, default=None, metavar="N", help="CPU threads for the run (default: torch's default)")

    p_rep = sub.add_parser("reproduce", parents=[common], help="run every simulation (the reference figures)", epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p_rep.add_argument("--only", nargs="*", default=None, metavar="NAME", help="restrict to these simulations")
    p_rep.add_argument("--jobs", type=int, default=None, metavar="N", help="simulations run side by side in N worker processes (default: the number of CPU cores; 1 with --executor ray|slurm)")
    p_rep.add_argument("--event-log", default=None, metavar="FILE", help="also append every progress event to FILE as a JSON line (for programs)")
    p_rep.add_argument("--no-page", action="store_true", help="do not write the results page at the end")

    p_page = sub.add_parser("report", help="write the results page (results/index.html) from the results files")
    p_page.add_argument("--results-dir", default="results", help="results files to show; the page goes here (default: %(default)s)")
    p_page.add_argument("--figures-dir", default="figures", help="where the figures are (default: %(default)s)")
    p_page.add_argument("--output", default=None, metavar="FILE", help="page to write (default: <results-dir>/index.html)")
    p_page.add_argument("--embed", action="store_true", help="put the figures inside the page (one self-contained file) instead of linking them")
    p_page.add_argument("--claims-index", action="store_true", help="also rewrite the claims tables of paper_notes/README.md and README.md (between their markers) from the default-scale results")
    return parser


def _list(long: bool) -> int:
    sims = discover()
    width = max(map(len, sims), default=0)
    for name, module in sims.items():
        print(f"{name:<{width}}  {module.SUMMARY}")
        if long:
            doc = (module.__doc__ or "").strip()
            if doc:
                print("\n".join("    " + line for line in doc.splitlines()))
            print(f"    scales: {', '.join(module.SCALES)}")
            default = module.SCALES["default"]
            for key, value in default.flat_dict().items():
                rule = default.constraint_for(key)
                allowed = f"  ({rule.describe()})" if rule is not None else ""
                meaning = default.field_doc(key)
                print(f"    --set {key}={_cli_text(value)}{allowed}" + (f"\n        {meaning}" if meaning else ""))
            print()
    return 0


def _cli_text(value) -> str:
    return ",".join(map(str, value)) if isinstance(value, tuple) else str(value)


def _overrides(name: str, scale: str, pairs: list[str]) -> dict:
    """Parse and check --set values (and the scale) before any work starts."""
    module = get_simulation(name)
    values = parse_overrides(module.SCALES["default"], pairs)
    build_config(module, scale, values)
    return values


_RAY_ONLY = ("ray_address",)
_SLURM_ONLY = ("slurm_partition", "slurm_mem_gb", "slurm_folder", "slurm_options")


def _executor(args):
    """The executor the options name (checked before any work starts), and --max-batch."""
    if args.max_batch is not None and args.max_batch < 1:
        raise ValueError(f"--max-batch must be >= 1, got {args.max_batch}")
    misplaced = [key for key in _RAY_ONLY if args.executor != "ray" and getattr(args, key)]
    misplaced += [key for key in _SLURM_ONLY if args.executor != "slurm" and getattr(args, key)]
    if args.executor == "local":
        misplaced += [key for key in ("max_in_flight",) if getattr(args, key) is not None]
        misplaced += [key for key in ("cpus_per_task", "gpus_per_task") if getattr(args, key) != (1 if key == "cpus_per_task" else 0)]
    if misplaced:
        options = ", ".join("--" + key.replace("_", "-") for key in misplaced)
        raise ValueError(f"{options} do(es) not apply to --executor {args.executor}")
    needed = {"ray": "ray", "slurm": "submitit"}.get(args.executor)
    if needed and importlib.util.find_spec(needed) is None:
        raise ValueError(f"--executor {args.executor} needs {needed}: pip install 'clustertheory[cluster]' (or pip install {needed})")
    if args.executor == "local":
        return make_executor("local"), args.max_batch
    if args.executor == "ray":
        options = {"address": args.ray_address, "num_cpus_per_task": args.cpus_per_task, "num_gpus_per_task": args.gpus_per_task, "max_in_flight": args.max_in_flight}
        return make_executor("ray", **options), args.max_batch
    extra = {}
    for pair in args.slurm_options:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--slurm-option expects KEY=VALUE, got {pair!r}")
        extra[key.strip().removeprefix("slurm_")] = value.strip()
    if args.cpus_per_task != int(args.cpus_per_task):
        raise ValueError(f"--cpus-per-task must be a whole number for slurm, got {args.cpus_per_task}")
    options = {
        "folder": args.slurm_folder or str(Path(args.results_dir) / "submitit"),
        "cluster": args.slurm_cluster,
        "cpus_per_task": int(args.cpus_per_task),
        "gpus_per_task": args.gpus_per_task,
        "mem_gb": args.slurm_mem_gb,
        "timeout_min": args.slurm_timeout_min,
        "partition": args.slurm_partition,
        "max_in_flight": args.max_in_flight,
        **extra,
    }
    return make_executor("slurm", **options), args.max_batch


def _run(args) -> int:
    values = _overrides(args.name, args.scale, args.overrides)
    if args.threads is not None and args.threads < 1:
        raise ValueError(f"--threads must be >= 1, got {args.threads}")
    executor, max_batch = _executor(args)
    outcome = run_simulation(
        args.name,
        scale=args.scale,
        overrides=values,
        results_dir=args.results_dir,
        figures_dir=args.figures_dir,
        device=args.device,
        progress=not args.no_progress,
        threads=args.threads,
        executor=executor,
        max_batch=max_batch,
    )
    return 1 if (args.strict and not outcome.verdict.passed) else 0


def _reproduce(args) -> int:
    names = args.only or list(discover())
    for name in names:
        _overrides(name, args.scale, [])  # unknown names and bad scales fail before any work
    if args.jobs is not None and args.jobs < 1:
        raise ValueError(f"--jobs must be >= 1, got {args.jobs}")
    executor, max_batch = _executor(args)
    options = {"scale": args.scale, "device": args.device, "results_dir": args.results_dir, "figures_dir": args.figures_dir}
    if args.executor != "local":
        options["executor"] = executor
    if max_batch is not None:
        options["max_batch"] = max_batch
    summaries = reproduce(
        names,
        jobs=args.jobs,
        options=options,
        progress=not args.no_progress,
        event_log=args.event_log,
        page=False,
    )
    print("\nsummary:\n" + summary_table(summaries), flush=True)
    crashed = any(s.error for s in summaries)
    if not args.no_page:
        try:
            print(f"results page: {write_report(args.results_dir, args.figures_dir)}", flush=True)
        except Exception as error:  # every result is written already: say what failed, keep them
            print(f"clustertheory: error: results page not written: {error!r}", file=sys.stderr)
            crashed = True
    failed = any(not s.package_passed for s in summaries)
    return 1 if crashed or (args.strict and failed) else 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    use_file_backend()  # the command line only writes figures to files
    try:
        if args.command == "list":
            return _list(args.long)
        if args.command == "run":
            return _run(args)
        if args.command == "reproduce":
            return _reproduce(args)
        if args.command == "report":
            print(write_report(args.results_dir, args.figures_dir, output=args.output, embed=args.embed))
            if args.claims_index:
                for path in write_claims_index(args.results_dir):
                    print(path)
            return 0
    except ValueError as error:
        print(f"clustertheory: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
