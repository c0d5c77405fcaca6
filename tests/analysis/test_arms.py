"""Reading paired arms from result rows."""

import numpy as np

from clustertheory.analysis import arms

ROWS = [
    {"kind": "final", "method": "a", "seed": 0, "cell": 1, "x": 1.0},
    {"kind": "final", "method": "a", "seed": 0, "cell": 2, "x": 3.0},
    {"kind": "final", "method": "b", "seed": 0, "cell": 1, "x": 0.0},
    {"kind": "final", "method": "b", "seed": 0, "cell": 2, "x": 1.0},
    {"kind": "final", "method": "a", "seed": 1, "cell": 1, "x": 5.0},
    {"kind": "final", "method": "b", "seed": 2, "cell": 1, "x": 7.0},
    {"kind": "curve", "method": "a", "seed": 0, "cell": 1},
]


def test_select_and_per_seed_means():
    assert len(arms.select(ROWS, kind="final", method="a")) == 3
    assert arms.per_seed(ROWS, "x", method="a") == {0: 2.0, 1: 5.0}  # the mean over cells; rows without x ignored


def test_paired_keeps_the_seeds_both_arms_have():
    treated, control = arms.paired(ROWS, "x", "method", "a", "b")
    assert treated.tolist() == [2.0] and control.tolist() == [0.5]
    treated, control = arms.paired(ROWS, "x", "method", "a", "b", cell=2)
    assert np.array_equal(treated - control, [2.0])


def test_cell_means():
    assert arms.cell_means(ROWS, "x", ("cell",), method="a") == {(1,): 3.0, (2,): 3.0}


def test_seed_shares_count_each_seeds_hits_over_the_cells():
    rows = [{"kind": "t", "l": l, "b": b, "member": s, "ok": s == 0 or l == 1} for l in (1, 2) for b in (0, 1) for s in range(2)]
    rows.append({"kind": "other", "l": 3, "b": 0, "member": 1, "ok": True})
    hit = lambda r: r["ok"]
    assert arms.seed_shares(rows, hit, ("l", "b"), 2, "member", kind="t").tolist() == [1.0, 0.5]
    assert arms.seed_shares(rows, hit, ("l", "b"), 2, "member", lambda r: r["l"] == 2, kind="t").tolist() == [1.0, 0.0]
    assert arms.seed_shares(rows, hit, ("l", "b"), 3, "member", kind="none").tolist() == [0.0, 0.0, 0.0]


def test_count_grid_places_each_hit_in_its_cell():
    rows = [{"kind": "t", "l": l, "b": b, "ok": l + b >= 2} for l in (1, 2) for b in (0, 1) for _ in range(3)]
    grid = arms.count_grid(rows + [{"kind": "u", "l": 9, "b": 9, "ok": True}], lambda r: r["ok"], "b", (0, 1), "l", (1, 2), kind="t")
    assert grid.tolist() == [[0.0, 3.0], [3.0, 3.0]]


def test_seed_values_are_in_seed_order_without_averaging():
    rows = [{"kind": "t", "arm": "a", "k": k, "x": float(10 - k)} for k in (2, 0, 1)] + [{"kind": "t", "arm": "b", "k": 0, "x": 99.0}]
    assert arms.seed_values(rows, "x", "k", kind="t", arm="a").tolist() == [10.0, 9.0, 8.0]
    assert arms.seed_values(rows, "x", "k", arm="c").shape == (0,)
