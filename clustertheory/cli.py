"""Command line: ``clustertheory list | run NAME | reproduce``."""

from __future__ import annotations

import argparse
import sys

from .reproduce import reproduce, summary_table
from .simulation import build_config, discover, get_simulation, parse_overrides, run_simulation

EPILOG = """examples:
  clustertheory list                          every simulation, one line each
  clustertheory list --long                   with its claims, settings and their allowed values
  clustertheory run theorem-4.5               default scale: writes results/ and figures/, prints the verdict
  clustertheory run theorem-4.5 --set seed=3 --set train.beta=1
  clustertheory run phase-diagram --scale paper --device cuda
  clustertheory reproduce                     every simulation at default scale, side by side (--jobs)

Every run writes results/<run>.csv (tidy rows with config and seed), results/<run>.json
(config, verdict, versions, times) and figures/<run>.png, where <run> is the simulation name
followed by every setting that differs from the default. An interrupted run keeps its
finished work in results/<run>.partial.jsonl and resumes from it when started again.

verdicts:
  package checks  the package's own correctness (exact identities, agreement with references
                  or simulation, the setting being what it says): PASS or FAIL
  claims          statements of papers, each with an effect, a 95% interval over seeds and its
                  preconditions: reproduced | not-reproduced | inconclusive | not-testable
                  (not-testable: a precondition failed, the run was not in the claim's regime)

exit status:
  0  every simulation ran (and, with --strict, every package check passed); the status of a
     claim never changes the exit status
  1  --strict and a package check FAILED, or a simulation stopped with an error
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

    p_run = sub.add_parser("run", parents=[common], help="run one simulation", epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p_run.add_argument("name", help="simulation name (see 'clustertheory list')")
    p_run.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help="override one config field (repeatable); nested fields dotted (train.beta=1); tuples as comma-separated values")
    p_run.add_argument("--threads", type=int, default=None, metavar="N", help="CPU threads for the run (default: torch's default)")

    p_rep = sub.add_parser("reproduce", parents=[common], help="run every simulation (the reference figures)", epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p_rep.add_argument("--only", nargs="*", default=None, metavar="NAME", help="restrict to these simulations")
    p_rep.add_argument("--jobs", type=int, default=None, metavar="N", help="simulations run side by side in N worker processes (default: the number of CPU cores)")
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
                print(f"    --set {key}={_cli_text(value)}{allowed}")
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


def _run(args) -> int:
    values = _overrides(args.name, args.scale, args.overrides)
    if args.threads is not None and args.threads < 1:
        raise ValueError(f"--threads must be >= 1, got {args.threads}")
    outcome = run_simulation(
        args.name,
        scale=args.scale,
        overrides=values,
        results_dir=args.results_dir,
        figures_dir=args.figures_dir,
        device=args.device,
        progress=not args.no_progress,
        threads=args.threads,
    )
    return 1 if (args.strict and not outcome.verdict.passed) else 0


def _reproduce(args) -> int:
    names = args.only or list(discover())
    for name in names:
        _overrides(name, args.scale, [])  # unknown names and bad scales fail before any work
    if args.jobs is not None and args.jobs < 1:
        raise ValueError(f"--jobs must be >= 1, got {args.jobs}")
    summaries = reproduce(
        names,
        jobs=args.jobs,
        options={"scale": args.scale, "device": args.device, "results_dir": args.results_dir, "figures_dir": args.figures_dir},
        progress=not args.no_progress,
    )
    print("\nsummary:\n" + summary_table(summaries), flush=True)
    crashed = any(s.error for s in summaries)
    failed = any(not s.package_passed for s in summaries)
    return 1 if crashed or (args.strict and failed) else 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "list":
            return _list(args.long)
        if args.command == "run":
            return _run(args)
        if args.command == "reproduce":
            return _reproduce(args)
    except ValueError as error:
        print(f"clustertheory: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
