"""The results page: every run and every claim is on it, its links resolve, and it needs no network."""

import json
from html.parser import HTMLParser
from pathlib import Path

import pytest

from clustertheory import cli
from clustertheory.report import (
    INDEX_END,
    INDEX_START,
    claims_markdown,
    claims_summary_markdown,
    load_results,
    verdict_parts,
    write_claims_index,
    write_report,
)

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000" "1f15c4890000000d49444154789c6360f8cf000000030101" "00c9fe92ef0000000049454e44ae426082"
)


def _claim(name, status, effect, low, high, **extra):
    return {"name": name, "source": "Paper et al. 2023, Thm 1", "statement": f"statement of {name}", "status": status,
            "effect": effect, "units": "share", "ci": [low, high], "level": 0.95, "method": "wilson", "n": 12, "null": 0.0,
            "minimal_effect": 0.1, "direction": "greater", "detectable": 0.3, "preconditions": extra.pop("preconditions", []),
            "note": extra.pop("note", ""), **extra}


def _summary(name, run, checks, claims, passed=True):
    return {"simulation": name, "run": run, "scale": "default", "config": {"seed": 0, "train": {"beta": 2.0}},
            "verdict": {"package": {"passed": passed, "checks": checks}, "claims": claims},
            "elapsed_s": 12.5, "cpu_s": 11.0, "threads": 1, "device": "cpu",
            "versions": {"torch": "2.13.0", "python": "3.11.7"}, "date": "2026-11-29 12:00:00 UTC"}


FIXTURES = {
    "theorem-4.5": _summary("theorem-4.5", "theorem-4.5",
                            [{"name": "exact loss matches Monte Carlo", "measured": 0.01, "requirement": "<= 0.05", "passed": True}],
                            [_claim("bounded-preserves", "reproduced", 0.92, 0.8, 0.97),
                             _claim("free-splits", "not-testable", 0.1, 0.0, 0.3,
                                    preconditions=[{"name": "lookup table fits", "measured": 0.2, "requirement": "<= 0.01", "met": False}])]),
    "theorem-4.5_seeds-20": _summary("theorem-4.5", "theorem-4.5_seeds-20",
                                     [{"name": "exact loss matches Monte Carlo", "measured": 0.2, "requirement": "<= 0.05", "passed": False}],
                                     [_claim("bounded-preserves", "inconclusive", 0.5, 0.05, 0.9, note="a <wide> interval & more")], passed=False),
    "phase-diagram": _summary("phase-diagram", "phase-diagram",
                              [{"name": "teeth panel agreement", "measured": "1.000 of 42 cells", "requirement": ">= 0.9", "passed": True}],
                              [_claim("delta-predicts-preservation", "not-reproduced", 0.02, -0.01, 0.05)]),
}
OLD_LAYOUT = {"simulation": "blurring", "run": "blurring", "scale": "default", "config": {"d": 3},
              "verdict": {"passed": True, "checks": [{"name": "kernel rows sum to one", "measured": 1.0, "predicted": "== 1 (old key)", "passed": True}]},
              "elapsed_s": 3.0, "device": "cpu", "versions": {}, "date": ""}


@pytest.fixture
def results(tmp_path):
    results, figures = tmp_path / "results", tmp_path / "figures"
    results.mkdir()
    figures.mkdir()
    for run, summary in {**FIXTURES, "blurring": OLD_LAYOUT}.items():
        (results / f"{run}.json").write_text(json.dumps(summary))
        (results / f"{run}.csv").write_text("a,b\n1,2\n")
        (figures / f"{run}.png").write_bytes(PNG)
    (results / "theorem-4.5.partial.jsonl").write_text("{}\n")  # not a results file
    (results / "notes.json").write_text(json.dumps({"unrelated": True}))  # not a run summary
    return results, figures


class PageParser(HTMLParser):
    """Collects the page's sections, claim rows, check rows, links, images and scripts."""

    def __init__(self):
        super().__init__()
        self.sections, self.claims, self.checks, self.links, self.images, self.scripts = [], [], [], [], [], 0
        self.section = None
        self.text = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "section":
            self.section = attrs["data-run"]
            self.sections.append((attrs["data-simulation"], attrs["data-run"], attrs["id"]))
        elif tag == "tr" and "data-claim" in attrs:
            self.claims.append((self.section, attrs["data-claim"], attrs["data-status"]))
        elif tag == "tr" and "data-check" in attrs:
            self.checks.append((self.section, attrs["data-check"]))
        elif tag == "a":
            self.links.append(attrs["href"])
        elif tag == "img":
            self.images.append(attrs["src"])
        elif tag in ("script", "link", "iframe"):
            self.scripts += 1

    def handle_data(self, data):
        self.text.append(data)


def _parse(path: Path) -> PageParser:
    parser = PageParser()
    parser.feed(path.read_text())
    return parser


def test_page_shows_every_run_check_and_claim(results):
    results_dir, figures_dir = results
    assert cli.main(["report", "--results-dir", str(results_dir), "--figures-dir", str(figures_dir)]) == 0
    page = _parse(results_dir / "index.html")
    runs = [run for _, run, _ in page.sections]
    assert sorted(runs) == sorted([*FIXTURES, "blurring"])
    assert runs.index("theorem-4.5") < runs.index("theorem-4.5_seeds-20")  # the default run first
    expected_claims = {(run, c["name"], c["status"]) for run, s in FIXTURES.items() for c in s["verdict"]["claims"]}
    assert set(page.claims) == expected_claims
    assert ("blurring", "kernel rows sum to one") in page.checks  # the older layout: checks, no claims
    text = " ".join(page.text)
    for summary in FIXTURES.values():
        for claim in summary["verdict"]["claims"]:
            assert f"[{claim['ci'][0]:.4g}, {claim['ci'][1]:.4g}]" in text  # the interval
            assert claim["statement"] in text
    assert "== 1 (old key)" in text  # the older layout's requirement
    assert "NOT MET: lookup table fits" in text  # the failed precondition of the not-testable claim
    assert "a <wide> interval & more" in text  # notes are escaped, not markup
    assert "12 s wall, 11 s CPU" in text  # run time
    assert '"beta": 2.0' in text  # the config


def test_page_links_resolve_and_need_no_network(results):
    results_dir, figures_dir = results
    path = write_report(results_dir, figures_dir, descriptions={"theorem-4.5": "InfoNCE keeps clusters whole"})
    page = _parse(path)
    assert page.scripts == 0
    for target in page.links + page.images:
        assert not target.startswith(("http:", "https:", "//")), target
        if not target.startswith("#"):
            assert (path.parent / target).resolve().exists(), target
    assert {Path(t).suffix for t in page.links if not t.startswith("#")} == {".csv", ".json", ".png"}
    assert len(page.images) == len(page.sections)
    anchors = {anchor for *_, anchor in page.sections}
    assert {t[1:] for t in page.links if t.startswith("#")} == anchors  # the overview links every section
    assert "InfoNCE keeps clusters whole" in path.read_text()


def test_embedded_page_carries_its_figures(results, tmp_path):
    results_dir, figures_dir = results
    path = write_report(results_dir, figures_dir, output=tmp_path / "elsewhere" / "page.html", embed=True, descriptions={})
    page = _parse(path)
    assert all(src.startswith("data:image/png;base64,") for src in page.images) and page.images


def test_results_of_both_layouts_are_read(results):
    results_dir, _ = results
    loaded = {s["run"]: s for s in load_results(results_dir)}
    assert set(loaded) == {*FIXTURES, "blurring"}
    assert verdict_parts(loaded["blurring"]) == (True, OLD_LAYOUT["verdict"]["checks"], [])
    passed, checks, claims = verdict_parts(loaded["theorem-4.5_seeds-20"])
    assert not passed and len(checks) == 1 and claims[0]["status"] == "inconclusive"


# ----------------------------------------------------------------------------- the markdown claims index

ROOT = Path(__file__).resolve().parents[1]


def test_claims_index_lists_every_default_claim_with_its_note(results, tmp_path):
    results_dir, _ = results
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "theorem_4_5.md").write_text("# note\n")
    table = claims_markdown(load_results(results_dir), notes, notes)
    rows = [line for line in table.splitlines()[2:]]
    # default runs only: theorem-4.5 (2 claims) and phase-diagram (1); the seeds-20 run and the old layout add none
    assert len(rows) == 3
    assert "[theorem-4.5](theorem_4_5.md)" in rows[-2] or "[theorem-4.5](theorem_4_5.md)" in rows[-1]
    assert any("**not-testable**" in r and "0/1" in r for r in rows)
    assert any(r.startswith("| phase-diagram |") and "**not-reproduced**" in r for r in rows)  # no note: no link


def test_claims_index_rewrites_only_between_markers(results, tmp_path):
    results_dir, _ = results
    index, readme = tmp_path / "notes" / "README.md", tmp_path / "README.md"
    index.parent.mkdir()
    index.write_text(f"intro\n{INDEX_START}\nstale\n{INDEX_END}\noutro\n")
    readme.write_text(f"top\n{INDEX_START}\n{INDEX_END}\n")
    write_claims_index(results_dir, index, readme)
    text = index.read_text()
    assert text.startswith("intro\n") and text.endswith("outro\n") and "stale" not in text and "bounded-preserves" in text
    assert "reproduced: bounded-preserves; not-testable: free-splits" in readme.read_text()
    (tmp_path / "bare.md").write_text("no markers\n")
    with pytest.raises(ValueError, match="markers"):
        write_claims_index(results_dir, tmp_path / "bare.md", None)


def test_committed_claims_tables_match_the_committed_results():
    """paper_notes/README.md and README.md show what results/*.json say (rerun
    ``clustertheory report --claims-index`` after ``reproduce``)."""
    found = load_results(ROOT / "results")
    for path, render_table in ((ROOT / "paper_notes" / "README.md", claims_markdown), (ROOT / "README.md", claims_summary_markdown)):
        text = path.read_text()
        block = text[text.index(INDEX_START) + len(INDEX_START): text.index(INDEX_END)].strip()
        assert block == render_table(found, ROOT / "paper_notes", path.parent), f"{path} is out of date"


def test_note_for_finds_a_simulations_note_or_its_familys(tmp_path):
    from clustertheory.report import note_for

    for name in ("theorem_4_5_codes.md", "blurring_lemma_4_4.md", "README.md"):
        (tmp_path / name).write_text("x")
    assert note_for("theorem-4.5", tmp_path).name == "theorem_4_5_codes.md"
    assert note_for("blurring", tmp_path).name == "blurring_lemma_4_4.md"
    assert note_for("blurring-kernel", tmp_path).name == "blurring_lemma_4_4.md"  # split off blurring
    assert note_for("theorem-4.6", tmp_path) is None  # a number is never dropped
    assert note_for("real-digits", tmp_path) is None
