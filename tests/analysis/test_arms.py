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


def test_group_keeps_first_appearance_order_of_keys_and_rows():
    groups = arms.group(ROWS, "method", "seed")
    assert list(groups) == [("a", 0), ("b", 0), ("a", 1), ("b", 2)]
    assert [r["cell"] for r in groups[("a", 0)]] == [1, 2, 1] and groups[("a", 0)][2]["kind"] == "curve"
    assert arms.group([], "method") == {}


def test_replicate_means_average_each_seed_over_the_selected_cells():
    rows = [{"cell": c, "seed": k, "ok": ok} for c, flags in ((1, (True, False)), (2, (True, True)), (3, (False, False))) for k, ok in enumerate(flags)]
    means, cells = arms.replicate_means(rows, "ok", 2, ("cell",), where=lambda r: r["cell"] < 3)
    assert cells == 2 and np.array_equal(means, [1.0, 0.5])
    with pytest.warns(RuntimeWarning):  # the mean of no rows
        means, cells = arms.replicate_means(rows, "ok", 3, ("cell",))
    assert cells == 3 and np.allclose(means[:2], [2 / 3, 1 / 3]) and np.isnan(means[2])  # no row of replicate 2
    means, cells = arms.replicate_means(rows, "ok", 2, ("cell",), where=lambda r: False)
    assert cells == 0 and np.isnan(means).all()
