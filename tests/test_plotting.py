"""Shared figure pieces: the annotated heatmap, interval lines, paired dots, the vertex gallery."""

import matplotlib.pyplot as plt
import numpy as np
import pytest

from clustertheory.plotting import annotated_heatmap, interval_lines, paired_dots, vertex_gallery


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


def test_interval_lines_draw_t_intervals_of_each_sample():
    from clustertheory.statistics import mean_interval

    fig, ax = plt.subplots()
    samples = [np.array([0.1, 0.2, 0.3]), np.array([0.5, 0.5, 0.8])]
    container = interval_lines(ax, [0, 1], samples, "arm", "k")
    line, _, (bars,) = container
    assert np.allclose(line.get_ydata(), [0.2, 0.6]) and container.get_label() == "arm"
    low = [seg[0][1] for seg in bars.get_segments()]
    assert np.allclose(low, [mean_interval(s).low for s in samples])
    plt.close(fig)


def test_paired_dots_join_each_seeds_two_values():
    fig, ax = plt.subplots()
    paired_dots(ax, [0.1, 0.2], [0.3, 0.4], ("a", "b"), ("arm a", "arm b"))
    assert [list(line.get_ydata()) for line in ax.lines] == [[0.1, 0.3], [0.2, 0.4]]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b"]
    with pytest.raises(ValueError, match="left and right"):
        paired_dots(ax, [0.1], [0.3, 0.4], ("a", "b"), ("arm a", "arm b"))
    plt.close(fig)


def test_vertex_gallery_titles_each_vertex_with_its_count_and_majority():
    fig = plt.figure()
    images = np.zeros((5, 8, 8))
    axes = vertex_gallery(fig, fig.add_gridspec(1, 1)[0, 0], images, [0, 0, 0, 3, 3], [1, 1, 2, 5, 5], 2, 10, noun="digits")
    assert len(axes) == 4
    assert [ax.get_title() for ax in axes] == ["vertex 0: 3 digits, 67% '1'", "vertex 1: empty", "vertex 2: empty", "vertex 3: 2 digits, 100% '5'"]
    assert axes[0].images[0].get_array().shape == (17, 35)
    with pytest.raises(ValueError, match="images"):
        vertex_gallery(fig, fig.add_gridspec(1, 1)[0, 0], images, [0, 1], [1, 1], 2, 10)
    plt.close(fig)
