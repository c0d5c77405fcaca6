"""Shared figure pieces: the annotated heatmap."""

import matplotlib.pyplot as plt
import numpy as np
import pytest

from clustertheory.plotting import annotated_heatmap


def test_annotated_heatmap_places_values_labels_and_readable_text():
    fig, ax = plt.subplots()
    values = np.array([[0.0, 1.0, np.nan], [0.5, 0.9, 0.1]])
    text = np.array([["a", "b", "c"], ["d", "", "f"]], dtype=object)
    image = annotated_heatmap(ax, values, ["x0", "x1", "x2"], ["y0", "y1"], text=text, vmin=0, vmax=1)
    assert np.array_equal(np.ma.filled(image.get_array(), np.nan)[1], values[1])
    written = {t.get_text(): t for t in ax.texts}
    assert set(written) == {"a", "b", "d", "f"}  # nan cell and empty string skipped
    assert written["a"].get_position() == (0, 0) and written["f"].get_position() == (2, 1)
    assert written["a"].get_color() == "w" and written["b"].get_color() == "k"  # viridis: dark at 0, light at 1
    assert [t.get_text() for t in ax.get_xticklabels()] == ["x0", "x1", "x2"]
    plt.close(fig)


def test_annotated_heatmap_rejects_mismatched_shapes():
    fig, ax = plt.subplots()
    with pytest.raises(ValueError, match="values must be"):
        annotated_heatmap(ax, np.zeros((2, 2)), ["a"], ["b", "c"])
    with pytest.raises(ValueError, match="text must have"):
        annotated_heatmap(ax, np.zeros((1, 1)), ["a"], ["b"], text=[["x", "y"]])
    plt.close(fig)


def test_sup_per_item_draws_the_largest_value_per_item_in_order_and_flags():
    from clustertheory.plotting import sup_per_item

    rows = [
        {"task": 7, "err": 0.5, "base": 0.25, "odd": False},
        {"task": 7, "err": 0.1, "base": 0.0, "odd": True},
        {"task": 3, "err": 0.2, "base": 0.0, "odd": False},
        {"task": 5, "err": 0.0, "base": 0.0, "odd": False},
    ]
    series = (("err", "error", "tab:blue", "o"), ("base", "baseline", "black", "_"))
    fig, ax = plt.subplots()
    order = sup_per_item(ax, rows, "task", series, order=("base",), flag="odd", flag_label="odd task")
    assert order == [3, 5, 7]  # by sup of base (0, 0, 0.25), then by item
    lines = {line.get_label(): line for line in ax.lines}
    assert set(lines) == {"error: sup 0.50", "baseline: sup 0.25", "odd task"}
    assert list(lines["error: sup 0.50"].get_ydata()) == [0.2, 0.0, 0.5]
    assert lines["baseline: sup 0.25"].get_markersize() == 7 and lines["error: sup 0.50"].get_markersize() == 4
    assert list(lines["odd task"].get_xdata()) == [2] and list(lines["odd task"].get_ydata()) == [-0.06]
    plt.close(fig)


def test_grid_of_places_each_row_in_its_cell():
    from clustertheory.plotting import grid_of

    rows = [{"y": 0.1, "x": 2, "v": 5.0}, {"y": 0.0, "x": 1, "v": 3.0}, {"y": 0.1, "x": 2, "v": 7.0}]
    grid = grid_of(rows, "y", "x", "v", [0.0, 0.1], [1, 2])
    assert np.array_equal(grid, [[3.0, np.nan], [np.nan, 7.0]], equal_nan=True)  # the later row of a cell wins
    assert np.array_equal(grid_of(rows, "y", "x", lambda r: r["v"] > 4, [0.0, 0.1], [1, 2], fill=0.0), [[0.0, 0.0], [0.0, 1.0]])
    with pytest.raises(ValueError):
        grid_of(rows, "y", "x", "v", [0.0], [1, 2])  # a row outside the grid


def test_strip_columns_puts_series_side_by_side_at_each_position():
    from clustertheory.plotting import strip_columns

    fig, ax = plt.subplots()
    columns = {"a": [[1.0, 2.0, 3.0], [4.0]], "b": [[5.0], []]}
    strip_columns(ax, columns, {"a": ("red", "o"), "b": ("blue", "s")}, ["d=2", "d=3"])
    a0, a1, b0, b1 = ax.lines
    assert np.allclose(a0.get_xdata(), [-0.2 - 0.12, -0.2, -0.2 + 0.12]) and list(a0.get_ydata()) == [1.0, 2.0, 3.0]
    assert np.allclose(a1.get_xdata(), [1 - 0.2 - 0.12])  # a single point sits at the left end of its spread
    assert np.allclose(b0.get_xdata(), [0.2 - 0.12]) and len(b1.get_xdata()) == 0
    assert [line.get_label() for line in ax.lines][::2] == ["a", "b"] and a0.get_color() == "red" and b0.get_marker() == "s"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["d=2", "d=3"]
    plt.close(fig)


def test_region_boundary_draws_the_edges_between_inside_and_outside():
    from clustertheory.plotting import region_boundary

    fig, ax = plt.subplots()
    region_boundary(ax, np.array([[True, False], [True, True]]), color="w")
    edges = sorted((tuple(line.get_xdata()), tuple(line.get_ydata())) for line in ax.lines)
    assert edges == [((0.5, 0.5), (-0.5, 0.5)), ((0.5, 1.5), (0.5, 0.5))]  # right of (0, 0) and above (0, 1)
    plt.close(fig)


def test_cell_mean_heatmap_colours_the_mean_over_seeds_and_outlines_a_region():
    from clustertheory.plotting import cell_mean_heatmap

    rows = [{"x": x, "y": y, "seed": k, "ok": (x + k) % 2 == 0 or y > 1} for y in (1, 2) for x in (0, 1, 2) for k in range(2)]
    fig, ax = plt.subplots()
    image = cell_mean_heatmap(ax, rows, "x", "y", "ok", text=lambda first, mean: f"{first['seed']}:{mean:.1f}",
                              inside=lambda first: first["y"] > 1, boundary={"color": "r"}, vmin=0, vmax=1)
    assert np.array_equal(np.ma.filled(image.get_array(), np.nan), [[0.5, 0.5, 0.5], [1.0, 1.0, 1.0]])
    assert sorted(t.get_text() for t in ax.texts) == ["0:0.5"] * 3 + ["0:1.0"] * 3  # each cell written from its first row
    assert len(ax.lines) == 3 and all(tuple(line.get_ydata()) == (0.5, 0.5) for line in ax.lines)  # the edge between y = 1 and y = 2
    assert [t.get_text() for t in ax.get_yticklabels()] == ["1", "2"]
    plt.close(fig)
