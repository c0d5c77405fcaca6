"""The results page: every run and every claim is on it, its links resolve, and it needs no network."""

import json
from html.parser import HTMLParser
from pathlib import Path

import pytest

from clustertheory import cli
from clustertheory.report import load_results, verdict_parts, write_report

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
