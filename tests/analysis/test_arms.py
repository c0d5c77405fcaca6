"""Reading paired arms from result rows."""

import numpy as np
import pytest

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


def test_seed_means_average_each_seed_over_its_selected_rows():
    rows = [{"kind": "t", "l": l, "b": b, "member": s, "ok": s == 0 or l == 1} for l in (1, 2) for b in (0, 1) for s in range(2)]
    rows.append({"kind": "other", "l": 3, "b": 0, "member": 1, "ok": True})
    trained = lambda r: r["kind"] == "t"
    means, cells = arms.seed_means(rows, lambda r: r["ok"], 2, ("l", "b"), "member", where=trained)
    assert means.tolist() == [1.0, 0.5] and cells == 4  # a test: the seed's share of cells where it holds
    means, cells = arms.seed_means(rows, "ok", 2, ("l", "b"), "member", where=lambda r: trained(r) and r["l"] == 2)
    assert means.tolist() == [1.0, 0.0] and cells == 2
    means, cells = arms.seed_means(rows, "ok", 3, ("l",), "member")
    assert cells == 3 and np.allclose(means[:2], [1.0, 3 / 5]) and np.isnan(means[2])  # member 2 has no row
    means, cells = arms.seed_means(rows, "ok", 2, ("l",), "member", where=lambda r: False)
    assert cells == 0 and np.isnan(means).all()
    with pytest.raises(ValueError, match="member must be in 0..0"):
        arms.seed_means(rows, "ok", 1, ("l",), "member")  # member 1 is not among 1 seed


def test_grid_places_each_row_in_its_cell():
    rows = [{"y": 0.1, "x": 2, "v": 5.0}, {"y": 0.0, "x": 1, "v": 3.0}, {"y": 0.1, "x": 2, "v": 7.0}]
    grid = arms.grid(rows, "y", "x", "v", [0.0, 0.1], [1, 2])
    assert np.array_equal(grid, [[3.0, np.nan], [np.nan, 7.0]], equal_nan=True)  # the later row of a cell wins
    assert np.array_equal(arms.grid(rows, "y", "x", lambda r: r["v"] > 4, [0.0, 0.1], [1, 2], fill=0.0), [[0.0, 0.0], [0.0, 1.0]])
    assert np.array_equal(arms.grid(rows, "y", "x", "v", [0.0, 0.1], [1, 2], reduce="mean"), [[3.0, np.nan], [np.nan, 6.0]], equal_nan=True)
    with pytest.raises(ValueError):
        arms.grid(rows, "y", "x", "v", [0.0], [1, 2])  # a row outside the grid
    with pytest.raises(ValueError, match="reduce"):
        arms.grid(rows, "y", "x", "v", [0.0, 0.1], [1, 2], reduce="max")


def test_grid_sums_the_hits_of_each_cell():
    rows = [{"kind": "t", "l": l, "b": b, "ok": l + b >= 2} for l in (1, 2) for b in (0, 1) for _ in range(3)]
    grid = arms.grid(arms.select(rows, kind="t"), "b", "l", lambda r: r["ok"], (0, 1), (1, 2), fill=0.0, reduce="sum")
    assert grid.tolist() == [[0.0, 3.0], [3.0, 3.0]]


def test_seed_values_are_in_seed_order_without_averaging():
    rows = [{"kind": "t", "arm": "a", "k": k, "x": float(10 - k)} for k in (2, 0, 1)] + [{"kind": "t", "arm": "b", "k": 0, "x": 99.0}]
    assert arms.seed_values(rows, "x", "k", kind="t", arm="a").tolist() == [10.0, 9.0, 8.0]
    assert arms.seed_values(rows, "x", "k", arm="c").shape == (0,)


def test_differences_by_seed_over_the_seeds_both_have():
    assert arms.differences(ROWS, "x", "method", "a", "b") == {0: 1.5}  # seed 1 lacks b, seed 2 lacks a
    assert arms.differences(ROWS, "x", "cell", 2, 1, method="a") == {0: 2.0}


def test_log_ratios_pair_each_row_with_its_twin():
    rows = [{"seed": s, "arm": arm, "step": t, "y": y} for s, arm, t, y in
            [(0, "t", 1, 2.0), (0, "c", 1, 1.0), (0, "t", 2, 1.0), (0, "c", 2, 4.0), (1, "t", 1, 3.0), (1, "c", 1, 3.0), (1, "c", 2, 9.0)]]
    ratios = arms.log_ratios(rows, "y", "arm", "t", "c", ("step",))
    assert np.allclose(ratios, [(np.log(2.0) + np.log(0.25)) / 2, 0.0])
    assert np.allclose(arms.log_ratios(rows, "y", "arm", "t", "c", ("step",), step=1), [np.log(2.0), 0.0])


def test_worst_cell_is_the_smallest_cell_mean_or_gain():
    assert arms.worst_cell(ROWS, "x", ("cell",), "method", "a", seed=0) == 1.0  # cells 1 and 2 of seed 0: 1 and 3
    assert arms.worst_cell(ROWS, "x", ("cell",), "method", "a", "b") == -0.5  # cell 1: 3 - 3.5, cell 2: 3 - 1 = 2


def test_mean_ratio_of_two_arms():
    assert arms.mean_ratio(ROWS, "x", "method", "a", "b", kind="final", seed=0) == 2.0 / 0.5
    assert arms.mean_ratio(ROWS, "x", "method", "a", "b", cell=2, seed=0) == 3.0
    assert arms.mean_ratio([{"m": "a", "x": 1.0}, {"m": "b", "x": 0.0}], "x", "m", "a", "b") == float("inf")


def test_group_keeps_first_appearance_order_of_keys_and_rows():
    groups = arms.group(ROWS, "method", "seed")
    assert list(groups) == [("a", 0), ("b", 0), ("a", 1), ("b", 2)]
    assert [r["cell"] for r in groups[("a", 0)]] == [1, 2, 1] and groups[("a", 0)][2]["kind"] == "curve"
    assert arms.group([], "method") == {}


