"""Command line: ``clustertheory list | run NAME | reproduce``."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time

from .simulation import build_config, discover, get_simulation, parse_overrides, run_simulation

EPILOG = """examples:
  clustertheory list                          every simulation, one line each
  clustertheory list --long                   with the claim each one checks and its settings
  clustertheory run theorem-4.5               default scale: writes results/ and figures/, prints the verdict
  clustertheory run theorem-4.5 --set d=3 --set seeds=8
  clustertheory run phase-diagram --scale paper --device cuda
  clustertheory reproduce                     every simulation at default scale (the README figures)

Every run writes results/<run>.csv (tidy rows with config and seed), results/<run>.json
(config, verdict, versions) and figures/<run>.png, where <run> is the simulation name
followed by every setting that differs from the default. An interrupted run keeps its
finished work in results/<run>.partial.jsonl and resumes from it when started again.
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
    p_list.add_argument("--long", action="store_true", help="also print each claim and its config fields with defaults")

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--scale", default="default", help="named setting of the simulation: 'default' (laptop CPU, minutes) or 'paper' (full grid, meant for a GPU); default: %(default)s")
    common.add_argument("--device", default=None, help="torch device, e.g. cpu or cuda (default: cuda when available, else cpu)")
    common.add_argument("--results-dir", default="results", help="where results tables go (default: %(default)s)")
    common.add_argument("--figures-dir", default="figures", help="where figures go (default: %(default)s)")
    common.add_argument("--no-progress", action="store_true", help="hide progress bars")
    common.add_argument("--strict", action="store_true", help="exit with status 1 when a verdict is FAIL")

    p_run = sub.add_parser("run", parents=[common], help="run one simulation", formatter_class=argparse.RawDescriptionHelpFormatter)
    p_run.add_argument("name", help="simulation name (see 'clustertheory list')")
    p_run.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help="override one config field (repeatable); tuples as comma-separated values")

    p_rep = sub.add_parser("reproduce", parents=[common], help="run every simulation (the reference figures)")
    p_rep.add_argument("--only", nargs="*", default=None, metavar="NAME", help="restrict to these simulations")
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
            scales = ", ".join(module.SCALES)
            print(f"    scales: {scales}")
            for f in dataclasses.fields(module.SCALES["default"]):
                print(f"    --set {f.name}={getattr(module.SCALES['default'], f.name)!r}")
            print()
    return 0


def _run_one(name: str, args, overrides: list[str]) -> bool:
    module = get_simulation(name)
    values = parse_overrides(type(module.SCALES["default"]), overrides)
    build_config(module, args.scale, values)  # validate before any work starts
    outcome = run_simulation(
        module,
        scale=args.scale,
        overrides=values,
        results_dir=args.results_dir,
        figures_dir=args.figures_dir,
        device=args.device,
        progress=not args.no_progress,
    )
    return outcome.verdict.passed


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "list":
            return _list(args.long)
        if args.command == "run":
            passed = _run_one(args.name, args, args.overrides)
            return 1 if (args.strict and not passed) else 0
        if args.command == "reproduce":
            names = args.only or list(discover())
            verdicts = {}
            for name in names:
                start = time.perf_counter()
                print(f"\n=== {name} ===", flush=True)
                verdicts[name] = (_run_one(name, args, []), time.perf_counter() - start)
            print("\nsummary:")
            for name, (passed, seconds) in verdicts.items():
                print(f"  {'PASS' if passed else 'FAIL'}  {name}  ({seconds:.0f} s)")
            return 1 if (args.strict and not all(p for p, _ in verdicts.values())) else 0
    except ValueError as error:
        print(f"clustertheory: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
