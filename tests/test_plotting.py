"""Shared figure pieces: heatmaps (annotated, signed), named curves, hit maps, means, strips, interval lines, paired dots, the vertex gallery."""

import matplotlib.pyplot as plt
import numpy as np
import pytest

from clustertheory.plotting import annotated_heatmap, hit_map, interval_lines, named_curves, paired_dots, signed_heatmap, vertex_gallery


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


def test_signed_heatmap_marks_signs_and_centres_the_colours_at_zero():
    fig, ax = plt.subplots()
    values = np.array([[-0.5, 1e-4], [2.0, -1e-5]])
    image = signed_heatmap(ax, values, ["b0", "b1"], ["l0", "l1"], scale=1e-3)
    assert {t.get_position(): t.get_text() for t in ax.texts} == {(0, 0): "-", (1, 0): "+", (0, 1): "+", (1, 1): "-"}
    assert np.allclose(np.ma.filled(image.get_array(), np.nan), np.arcsinh(values / 1e-3))
    assert image.norm(0.0) == 0.5 and image.norm.vmax == pytest.approx(-image.norm.vmin)
    assert image.norm.vmax == pytest.approx(np.arcsinh(2.0 / 1e-3))
    plt.close(fig)


def test_named_curves_colour_by_position_and_thicken_the_bold_ones():
    fig, ax = plt.subplots()
    named_curves(ax, {"a": ([0, 1], [1.0, 2.0]), "b": ([], []), "c": ([0, 1, 2], [3.0, 2.0, 1.0])}, bold={"c"}, suffix=" (rises)")
    lines = ax.get_lines()
    assert [line.get_label() for line in lines] == ["a", "b", "c (rises)"]
    assert [line.get_color() for line in lines] == ["C0", "C1", "C2"]  # an empty curve keeps its colour slot
    assert [line.get_linewidth() for line in lines] == [1.0, 1.0, 2.4]
    assert list(lines[2].get_ydata()) == [3.0, 2.0, 1.0] and lines[0].get_marker() == "o"
    plt.close(fig)


def test_hit_map_places_groups_side_by_side_and_marks_hits():
    fig, ax = plt.subplots()
    hit_map(ax, [4, 4, 8], [0.5, 0.5, 2.0], [True, False, False], [0, 1, 1], 2, hit_label="hit", miss_label="miss")
    points = ax.get_lines()[:3]
    assert [p.get_xdata()[0] for p in points] == pytest.approx([4 / 1.05**0.5, 4 * 1.05**0.5, 8 * 1.05**0.5])
    assert [p.get_marker() for p in points] == ["x", "o", "o"] and points[0].get_color() == "tab:red"
    assert [line.get_label() for line in ax.get_lines()[3:]] == ["hit", "miss"]


def test_plot_mean_draws_the_mean_over_rows_of_each_x_with_a_band():
    from clustertheory.plotting import plot_mean

    fig, ax = plt.subplots()
    rows = [{"x": 2, "y": 1.0}, {"x": 1, "y": 4.0}, {"x": 2, "y": 3.0}, {"x": 1, "y": 0.0}]
    xs, means = plot_mean(ax, rows, "x", "y", "-o", shift=1, band=True, color="red", label="m")
    assert xs.tolist() == [1, 2] and means.tolist() == [2.0, 2.0]
    (line,) = ax.get_lines()
    assert line.get_xdata().tolist() == [2, 3] and line.get_label() == "m"
    band = ax.collections[0].get_paths()[0].vertices
    assert band[:, 1].min() == 0.0 and band[:, 1].max() == 4.0
    plt.close(fig)


def test_strip_plot_places_each_group_in_its_column_with_a_mean_bar():
    from clustertheory.plotting import strip_plot

    fig, ax = plt.subplots()
    strip_plot(ax, [[1.0, 3.0], [2.0, 2.0, 5.0]], ["a", "b"], colors=["red", "blue"])
    points, bar_a, points_b, bar_b = ax.get_lines()
    assert points.get_xdata().tolist() == [-0.15, 0.15] and points.get_color() == "red"
    assert bar_a.get_ydata().tolist() == [2.0, 2.0] and bar_b.get_ydata().tolist() == [3.0, 3.0]
    assert points_b.get_xdata().tolist() == [0.85, 1.0, 1.15]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b"]
    with pytest.raises(ValueError, match="one entry per group"):
        strip_plot(ax, [[1.0]], ["a", "b"])


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


def test_code_strip_builds_each_column_from_the_code_rows_of_its_cell():
    from clustertheory.plotting import code_strip

    fig, ax = plt.subplots()
    rows = [{"kind": "code", "d": d, "representation": rep, "gap": 10 * d + k} for k in range(2) for d in (2, 3) for rep in ("a", "b")]
    rows.append({"kind": "code", "d": 4, "representation": "a", "gap": 99.0})  # outside the positions drawn
    rows.append({"kind": "law", "d": 2, "representation": "a", "gap": 98.0})  # not a code row
    code_strip(ax, rows, "gap", [2, 3], ["b", "a"], {"a": ("red", "o"), "b": ("blue", "s")})
    b2, b3, a2, a3 = ax.lines  # series in the order named, positions in the order given
    assert list(b2.get_ydata()) == [20, 21] and list(a3.get_ydata()) == [30, 31] and list(a2.get_ydata()) == [20, 21]
    assert b2.get_color() == "blue" and [t.get_text() for t in ax.get_xticklabels()] == ["d=2, m=4", "d=3, m=8"]
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


def test_vertex_law_heatmap_draws_one_codes_cluster_by_vertex_law():
    from clustertheory.plotting import vertex_law_heatmap

    rows = [{"kind": "mass", "d": 1, "representation": "a", "cluster": c, "vertex": v, "mass": float(c == v)} for c in (0, 1) for v in (0, 1)]
    rows += [{"kind": "mass", "d": 1, "representation": "b", "cluster": 0, "vertex": 1, "mass": 1.0}, {"kind": "code", "d": 1, "representation": "a"}]
    fig, ax = plt.subplots()
    image = vertex_law_heatmap(ax, rows, 1, "a", "law of a")
    assert np.array_equal(image.get_array(), [[1.0, 0.0], [0.0, 1.0]]) and ax.get_title() == "law of a"
    assert sorted(t.get_text() for t in ax.texts) == ["1.00", "1.00"]  # zero cells stay blank
    plt.close(fig)
