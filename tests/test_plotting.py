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


def test_paired_seeds_joins_each_seed_across_arms_and_marks_the_means():
    from clustertheory.plotting import paired_seeds

    fig, ax = plt.subplots()
    dashes = paired_seeds(ax, [{0: 1.0, 1: 3.0}, {0: 2.0}], ["a", "b"], ["red", "blue"], "title")
    assert list(ax.lines[0].get_ydata()) == [1.0, 2.0]
    assert np.isnan(ax.lines[1].get_ydata()[1])  # seed 1 is missing in arm b
    assert np.array_equal(dashes.get_offsets()[:, 1], [2.0, 2.0])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b"] and ax.get_title() == "title (lines: seeds; dashes: means)"
    with pytest.raises(ValueError, match="one item per arm"):
        paired_seeds(ax, [{}], ["a", "b"], ["red"])
    plt.close(fig)


def test_grouped_bars_place_each_series_beside_the_others():
    from clustertheory.plotting import grouped_bars

    fig, ax = plt.subplots()
    grouped_bars(ax, ["g0", "g1"], [("a", [1.0, 2.0], "red"), ("b", [3.0, np.nan], "blue")], span=0.8)
    bars = ax.patches
    assert [round(b.get_x() + b.get_width() / 2, 6) for b in bars] == [-0.2, 0.8, 0.2, 1.2] and bars[0].get_width() == pytest.approx(0.4)
    assert [b.get_height() for b in bars[:3]] == [1.0, 2.0, 3.0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["g0", "g1"]
    with pytest.raises(ValueError, match="one value per group"):
        grouped_bars(ax, ["g0"], [("a", [1.0, 2.0], "red")])
    plt.close(fig)


def test_count_table_writes_the_counts_under_their_labels():
    from clustertheory.plotting import count_table

    fig, ax = plt.subplots()
    shown = count_table(ax, "method", ["a", "b"], ["x", "y"], [[1, 2], [3, 4]])
    cells = shown.get_celld()
    assert cells[(0, 0)].get_text().get_text() == "method" and cells[(0, 2)].get_text().get_text() == "y"
    assert cells[(2, 0)].get_text().get_text() == "b" and cells[(2, 1)].get_text().get_text() == "3"
    assert not ax.axison
    with pytest.raises(ValueError, match="counts must be"):
        count_table(ax, "method", ["a"], ["x", "y"], [[1]])
    plt.close(fig)
