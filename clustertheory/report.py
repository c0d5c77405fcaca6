"""The results page: one static HTML file with every run's figure, verdict, claims, time and config.

    clustertheory report              ->  results/index.html (figures linked: ../figures/<run>.png)
    clustertheory report --embed      ->  the same page with every figure inside it (one file to mail)
    clustertheory report --claims-index  ->  also the claims tables of paper_notes/README.md and README.md


``clustertheory reproduce`` writes it at the end. The page is built from the results files
alone (``results/<run>.json`` and the figure next to it), so it shows what the last runs
wrote, whichever machine ran them. It needs no network: no fonts, scripts or styles from
elsewhere (the style sheet is inline), and the figures are relative links or embedded.

Per run: the figure; the package verdict with every check (measured, required, PASS/FAIL);
every claim with its status, effect and units, interval (level, method, n), what the status
needed (null, minimal effect, direction), the detectable effect, its preconditions and note;
wall and CPU time, device, threads, date and versions; the full config; and links to the
CSV and JSON. Results files of the older layout (``verdict: {passed, checks}``, each check
with ``predicted`` for its requirement) are shown with their checks and no claims.
"""

from __future__ import annotations

import base64
import html
import json
import math
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .sweep import atomic_write_text
from .verdict import STATUSES, count_statuses, counts_text

STATUS_COLOURS = {"reproduced": "#1a7f37", "not-reproduced": "#b3261e", "inconclusive": "#9a6700", "not-testable": "#6e7781"}

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; margin: 0 auto;
       max-width: 1180px; padding: 1.2em 1.6em 4em; color: #1f2328; line-height: 1.45; }
h1 { margin-bottom: 0.1em; } h2 { margin: 0; } h3 { margin: 1.1em 0 0.4em; font-size: 1.02em; }
.lead { color: #57606a; margin-top: 0.2em; }
section.simulation { border-top: 2px solid #d0d7de; margin-top: 2.2em; padding-top: 1em; }
.meta { color: #57606a; font-size: 0.9em; margin: 0.3em 0 0.8em; }
.meta a { margin-right: 0.8em; }
table { border-collapse: collapse; width: 100%; font-size: 0.88em; margin: 0.3em 0 0.6em; }
th, td { border-bottom: 1px solid #d8dee4; padding: 0.28em 0.5em; text-align: left; vertical-align: top; }
th { background: #f6f8fa; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.badge { display: inline-block; padding: 0.05em 0.55em; border-radius: 1em; color: white; font-size: 0.85em;
         font-weight: 600; white-space: nowrap; }
.pass { background: #1a7f37; } .fail { background: #b3261e; }
img.figure { max-width: 100%; height: auto; border: 1px solid #d8dee4; margin: 0.4em 0; }
details > summary { cursor: pointer; color: #0969da; margin: 0.3em 0; }
pre { background: #f6f8fa; padding: 0.7em; overflow-x: auto; font-size: 0.85em; }
.statement { color: #57606a; font-size: 0.95em; }
.pre-fail { color: #b3261e; } .pre-met { color: #57606a; }
.missing { color: #b3261e; font-style: italic; }
"""


# ----------------------------------------------------------------------------- reading results


def load_results(results_dir: str | Path) -> list[dict]:
    """Every run summary in ``results_dir`` (``<run>.json`` with a simulation and a verdict),
    sorted by simulation, each simulation's default run first."""
    found = []
    for path in sorted(Path(results_dir).glob("*.json")):
        try:
            summary = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(summary, dict) and "simulation" in summary and "verdict" in summary:
            found.append({**summary, "run": summary.get("run", path.stem), "_path": path})
    return sorted(found, key=lambda s: (s["simulation"], s["run"] != s["simulation"], s["run"]))


def verdict_parts(summary: Mapping) -> tuple[bool, list[dict], list[dict]]:
    """(package passed, package checks, claims) of a run summary, old layout included."""
    verdict = summary["verdict"]
    if "package" in verdict:
        package = verdict["package"]
        return bool(package.get("passed")), list(package.get("checks", [])), list(verdict.get("claims", []))
    return bool(verdict.get("passed")), list(verdict.get("checks", [])), []


def status_counts(claims: list[dict]) -> dict[str, int]:
    """Status -> number of ``claims`` (dicts of a results file) with it."""
    return count_statuses(claim["status"] for claim in claims)


# ----------------------------------------------------------------------------- formatting


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _num(value: Any) -> str:
    """4 significant digits for reals, as is for the rest (nan, inf and text kept)."""
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            return str(value)
        return f"{value:.4g}"
    return str(value)


def _duration(seconds: Any) -> str:
    if not isinstance(seconds, (int, float)):
        return "?"
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def _badge(passed: bool) -> str:
    return f'<span class="badge {"pass" if passed else "fail"}">{"PASS" if passed else "FAIL"}</span>'


def _status_badge(status: str) -> str:
    colour = STATUS_COLOURS.get(status, "#6e7781")
    return f'<span class="badge status" data-status="{_e(status)}" style="background:{colour}">{_e(status)}</span>'


def _anchor(run: str) -> str:
    return "run-" + "".join(c if c.isalnum() or c in "-_." else "-" for c in run)


def _link(target: Path, page: Path) -> str:
    return Path(os.path.relpath(target, page.parent)).as_posix()


# ----------------------------------------------------------------------------- the page


def _figure(summary: dict, figures_dir: Path, page: Path, embed: bool) -> str:
    path = figures_dir / f"{summary['run']}.png"
    if not path.exists():
        return f'<p class="missing">no figure at {_e(path)}</p>'
    source = "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode() if embed else _e(_link(path, page))
    return f'<img class="figure" src="{source}" alt="figure of {_e(summary["run"])}" loading="lazy">'


def _checks_table(checks: list[dict]) -> str:
    if not checks:
        return '<p class="missing">no package checks recorded</p>'
    rows = "".join(
        f'<tr class="check" data-check="{_e(c.get("name", ""))}"><td>{_badge(bool(c.get("passed")))}</td><td>{_e(c.get("name", ""))}</td>'
        f'<td>{_e(_num(c.get("measured")))}</td><td>{_e(c.get("requirement", c.get("predicted", "")))}</td></tr>'
        for c in checks
    )
    return f"<table><tr><th></th><th>package check</th><th>measured</th><th>required</th></tr>{rows}</table>"


def _preconditions(claim: dict) -> str:
    items = claim.get("preconditions") or []
    if not items:
        return "none"
    return "<br>".join(
        f'<span class="{"pre-met" if p.get("met") else "pre-fail"}">{"met" if p.get("met") else "NOT MET"}: {_e(p.get("name", ""))} '
        f'({_e(_num(p.get("measured")))}, required {_e(p.get("requirement", ""))})</span>'
        for p in items
    )


def _claims_table(claims: list[dict]) -> str:
    if not claims:
        return '<p class="missing">no claims recorded (results file of the older layout, or a simulation without claims)</p>'
    rows = []
    for c in claims:
        low, high = (c.get("ci") or [None, None])[:2]
        side = "above" if c.get("direction", "greater") == "greater" else "below"
        rows.append(
            f'<tr class="claim" data-claim="{_e(c.get("name", ""))}" data-status="{_e(c.get("status", ""))}">'
            f'<td>{_status_badge(c.get("status", ""))}</td>'
            f'<td><b>{_e(c.get("name", ""))}</b><div class="statement">{_e(c.get("statement", ""))} <i>({_e(c.get("source", ""))})</i></div>'
            + (f'<div class="statement">{_e(c["note"])}</div>' if c.get("note") else "")
            + "</td>"
            f'<td class="num">{_e(_num(c.get("effect")))} {_e(c.get("units", ""))}</td>'
            f'<td class="num">[{_e(_num(low))}, {_e(_num(high))}]<br><small>{_e(_num(c.get("level")))} {_e(c.get("method", ""))}, n={_e(c.get("n", ""))}</small></td>'
            f'<td class="num">{side} {_e(_num(c.get("minimal_effect")))}<br><small>null {_e(_num(c.get("null")))}</small></td>'
            f'<td class="num">{_e(_num(c.get("detectable")))}</td>'
            f"<td><small>{_preconditions(c)}</small></td></tr>"
        )
    head = "<tr><th>status</th><th>claim</th><th>effect</th><th>interval</th><th>needed</th><th>detectable</th><th>preconditions</th></tr>"
    return f"<table>{head}{''.join(rows)}</table>"


def _section(summary: dict, figures_dir: Path, page: Path, embed: bool, description: str) -> str:
    passed, checks, claims = verdict_parts(summary)
    run, name = summary["run"], summary["simulation"]
    json_path = summary["_path"]
    csv_path = json_path.with_suffix(".csv")
    links = [f'<a href="{_e(_link(json_path, page))}">JSON</a>']
    if csv_path.exists():
        links.insert(0, f'<a href="{_e(_link(csv_path, page))}">CSV</a>')
    figure_path = figures_dir / f"{run}.png"
    if figure_path.exists():
        links.append(f'<a href="{_e(_link(figure_path, page))}">figure</a>')
    versions = summary.get("versions") or {}
    meta = (
        f"scale <b>{_e(summary.get('scale', '?'))}</b> &middot; {_duration(summary.get('elapsed_s'))} wall, "
        f"{_duration(summary.get('cpu_s'))} CPU &middot; device {_e(summary.get('device', '?'))}, "
        f"threads {_e(summary.get('threads', '?'))} &middot; {_e(summary.get('date', ''))} &middot; "
        f"torch {_e(versions.get('torch', '?'))}, python {_e(versions.get('python', '?'))}"
    )
    counts = counts_text(status_counts(claims)) or "no claims"
    config = json.dumps(summary.get("config", {}), indent=2, sort_keys=True)
    title = _e(name) + (f' <small>({_e(run)})</small>' if run != name else "")
    return (
        f'<section class="simulation" id="{_anchor(run)}" data-simulation="{_e(name)}" data-run="{_e(run)}">'
        f"<h2>{title}</h2>"
        + (f'<p class="lead">{_e(description)}</p>' if description else "")
        + f'<div class="meta">{meta}<br>{" ".join(links)}</div>'
        + _figure(summary, figures_dir, page, embed)
        + f"<h3>package verdict {_badge(passed)} <small>({len(checks)} checks)</small></h3>"
        + _checks_table(checks)
        + f"<h3>claims <small>({_e(counts)})</small></h3>"
        + _claims_table(claims)
        + f"<details><summary>config</summary><pre>{_e(config)}</pre></details>"
        + "</section>"
    )


def _overview(results: list[dict]) -> str:
    head = "<tr><th>simulation</th><th>package</th>" + "".join(f"<th>{s}</th>" for s in STATUSES) + "<th>wall</th><th>CPU</th><th>scale</th></tr>"
    rows = []
    for summary in results:
        passed, _, claims = verdict_parts(summary)
        counts = status_counts(claims)
        run = summary["run"]
        rows.append(
            f'<tr class="overview" data-run="{_e(run)}"><td><a href="#{_anchor(run)}">{_e(run)}</a></td><td>{_badge(passed)}</td>'
            + "".join(f'<td class="num">{counts[s] or ""}</td>' for s in STATUSES)
            + f'<td class="num">{_duration(summary.get("elapsed_s"))}</td><td class="num">{_duration(summary.get("cpu_s"))}</td>'
            f"<td>{_e(summary.get('scale', '?'))}</td></tr>"
        )
    return f"<table>{head}{''.join(rows)}</table>"


def render(results: list[dict], figures_dir: Path, page: Path, embed: bool = False, descriptions: Mapping[str, str] | None = None) -> str:
    """The page's HTML for ``results`` (from :func:`load_results`), to be written at ``page``."""
    descriptions = descriptions or {}
    parts = [verdict_parts(s) for s in results]
    passed = sum(p for p, _, _ in parts)
    claims = [c for _, _, cs in parts for c in cs]
    counts = counts_text(status_counts(claims)) or "no claims"
    sections = "".join(_section(s, figures_dir, page, embed, descriptions.get(s["simulation"], "")) for s in results)
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>clustertheory results</title><style>{STYLE}</style></head><body>"
        "<h1>clustertheory results</h1>"
        f'<p class="lead">{len(results)} runs &middot; package checks: {passed} PASS, {len(results) - passed} FAIL &middot; '
        f"claims: {_e(counts)} &middot; page written {_e(time.strftime('%Y-%m-%d %H:%M:%S %Z'))}</p>"
        '<p class="lead">Package checks test the package itself (PASS/FAIL). Claims hold a paper\'s statement against a '
        "measured effect with a 95% interval: <i>reproduced</i> when the interval lies beyond the minimal effect on the "
        "paper's side, <i>not-reproduced</i> when it lies on the null side of it, <i>inconclusive</i> otherwise, and "
        "<i>not-testable</i> when a precondition failed (the run was not in the claim's regime).</p>"
        + _overview(results)
        + sections
        + "</body></html>\n"
    )


def simulation_descriptions() -> dict[str, str]:
    """Each simulation's one-line SUMMARY by NAME ({} when the simulations cannot be imported)."""
    try:
        from .simulation import discover

        return {name: module.SUMMARY for name, module in discover().items()}
    except Exception:  # the page must not depend on every simulation importing cleanly
        return {}


def write_report(
    results_dir: str | Path = "results",
    figures_dir: str | Path = "figures",
    output: str | Path | None = None,
    embed: bool = False,
    descriptions: Mapping[str, str] | None = None,
) -> Path:
    """Write the results page (default ``<results_dir>/index.html``) and return its path.

    ``embed``: put the figures inside the page (base64) instead of linking them.
    ``descriptions``: NAME -> one line shown under each title (default: the simulations' SUMMARY).
    """
    results_dir, figures_dir = Path(results_dir), Path(figures_dir)
    page = Path(output) if output is not None else results_dir / "index.html"
    results = load_results(results_dir)
    if descriptions is None:
        descriptions = simulation_descriptions()
    atomic_write_text(page, render(results, figures_dir, page, embed=embed, descriptions=descriptions))
    return page


# ----------------------------------------------------------------------------- markdown claims index

INDEX_START = "<!-- claims-table:start (written by clustertheory report --claims-index) -->"
INDEX_END = "<!-- claims-table:end -->"


def _md(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def note_for(simulation: str, notes_dir: Path) -> Path | None:
    """The note of ``simulation`` in ``notes_dir``: ``theorem-4.5`` -> ``theorem_4_5*.md``; a
    simulation split off another shares its family's note (``blurring-kernel`` -> ``blurring*.md``
    when no ``blurring_kernel*.md`` exists: the name is shortened part by part)."""
    parts = simulation.replace("-", "_").replace(".", "_").split("_")
    while parts:
        found = sorted(p for p in Path(notes_dir).glob(f"{'_'.join(parts)}*.md") if p.name != "README.md")
        if found:
            return found[0]
        if len(parts) == 1 or parts[-1].isdigit():  # theorem-4.8 must not fall back to theorem 4's notes
            return None
        parts = parts[:-1]
    return None


def _simulation_link(simulation: str, notes_dir: Path, link_from: Path) -> str:
    """``simulation`` as a markdown link to its note (relative to ``link_from``), or plain when it has none."""
    note = note_for(simulation, notes_dir)
    return simulation if note is None else f"[{simulation}]({os.path.relpath(note, link_from)})"


def _effect_text(claim: Mapping) -> str:
    ci = claim.get("ci") or [None, None]
    level = claim.get("level")
    level_text = f"{100 * level:.0f}% " if isinstance(level, (int, float)) and not math.isnan(level) else ""
    return f"{_num(claim.get('effect'))} [{_num(ci[0])}, {_num(ci[1])}] ({level_text}{claim.get('method', '?')}, n={claim.get('n', '?')})"


def claims_markdown(results: list[dict], notes_dir: str | Path, link_from: str | Path) -> str:
    """One markdown table of every claim of every default-scale run in ``results``: simulation,
    claim, source, status, effect with its interval, units, the smallest effect the run could
    detect, preconditions met, and the note (linked relative to the folder ``link_from``)."""
    notes_dir, link_from = Path(notes_dir), Path(link_from)
    lines = ["| simulation | package | claim | source | status | effect [interval] | units | detectable | preconditions |",
             "|---|---|---|---|---|---|---|---|---|"]
    for summary in results:
        if summary["run"] != summary["simulation"]:
            continue  # runs with non-default settings are on the results page, not in the index
        passed, _, claims = verdict_parts(summary)
        name = _simulation_link(summary["simulation"], notes_dir, link_from)
        for claim in claims:
            pre = claim.get("preconditions", [])
            met = sum(bool(p.get("met")) for p in pre)
            lines.append(
                f"| {name} | {'PASS' if passed else 'FAIL'} | {_md(claim.get('name', '?'))} | {_md(claim.get('source', ''))} "
                f"| **{claim.get('status', '?')}** | {_md(_effect_text(claim))} | {_md(claim.get('units', ''))} "
                f"| {_md(_num(claim.get('detectable')))} | {met}/{len(pre)} |"
            )
    return "\n".join(lines)


def claims_summary_markdown(results: list[dict], notes_dir: str | Path, link_from: str | Path) -> str:
    """A shorter table, one row per default-scale run: package verdict and its claims by status."""
    notes_dir, link_from = Path(notes_dir), Path(link_from)
    lines = ["| simulation | package | claims by status |", "|---|---|---|"]
    for summary in results:
        if summary["run"] != summary["simulation"]:
            continue
        passed, _, claims = verdict_parts(summary)
        name = _simulation_link(summary["simulation"], notes_dir, link_from)
        by_status = "; ".join(
            f"{status}: " + ", ".join(c.get("name", "?") for c in claims if c.get("status") == status)
            for status in STATUSES if any(c.get("status") == status for c in claims)
        )
        lines.append(f"| {name} | {'PASS' if passed else 'FAIL'} | {_md(by_status) or 'no claims'} |")
    return "\n".join(lines)


def replace_block(text: str, block: str) -> str:
    """``text`` with what lies between the claims-table markers replaced by ``block``."""
    start, end = text.find(INDEX_START), text.find(INDEX_END)
    if start < 0 or end < start:
        raise ValueError(f"no claims-table markers ({INDEX_START!r} ... {INDEX_END!r}) to write between")
    return text[: start + len(INDEX_START)] + "\n" + block + "\n" + text[end:]


def write_claims_index(results_dir: str | Path = "results", notes_index: str | Path = "paper_notes/README.md",
                       readme: str | Path | None = "README.md") -> list[Path]:
    """Rewrite the claims tables between the markers of ``notes_index`` (every claim) and
    ``readme`` (one row per simulation) from the results files; return the files written."""
    results = load_results(results_dir)
    notes_index = Path(notes_index)
    written = []
    atomic_write_text(notes_index, replace_block(notes_index.read_text(), claims_markdown(results, notes_index.parent, notes_index.parent)))
    written.append(notes_index)
    if readme is not None:
        readme = Path(readme)
        atomic_write_text(readme, replace_block(readme.read_text(), claims_summary_markdown(results, notes_index.parent, readme.parent)))
        written.append(readme)
    return written
