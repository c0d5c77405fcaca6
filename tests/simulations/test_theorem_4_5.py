"""Simulation theorem-4.5: passes on a tiny realizable comb, and fails when the claim is broken."""

import numpy as np
import pytest
import torch

from clustertheory.analysis.hypercube import vertex_codes
from clustertheory.analysis.metrics import preserves_clusters
from clustertheory.functions import make_function_class
from clustertheory.simulation import RunContext
from simulations import theorem_4_5 as sim


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


TINY = sim.Config(dims=(2,), seeds=3, steps=300, random_codes=8, enumerate_limit=300)


@pytest.fixture(scope="module")
def tiny_rows():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    rows = sim.run(TINY, RunContext.for_tests())
    torch.set_num_threads(threads)
    return rows


def code_from_weights(data, weights: np.ndarray, bandwidth: int) -> np.ndarray:
    """(V, d) hard code of the band-limited class member with weights (p, d)."""
    model = make_function_class("band-limited", data, weights.shape[1], seeds=[0], bandwidth=bandwidth)
    with torch.no_grad():
        model.weight.copy_(torch.as_tensor(weights[None], dtype=torch.float32))
    return model.codes()[0].numpy().astype(np.float64)


def test_tiny_run_passes_with_measured_minimisers(tiny_rows):
    verdict = sim.verdict(tiny_rows, TINY)
    assert verdict.passed, verdict.report()
    trained = [r for r in tiny_rows if r["kind"] == "trained"]
    assert len(trained) == 3
    assert all(r["preserving"] and r["tv"] < 1e-9 and abs(r["gap"]) < 1e-9 for r in trained)
    kinds = {r["kind"] for r in tiny_rows}
    assert kinds == {"trained", *sim.CONVERSE_KINDS}
    # every cluster-to-vertex assignment of 4 clusters on 4 vertices was enumerated; 4! are bijections
    clean = [r for r in tiny_rows if r["kind"] == "clean-assignment"]
    assert len(clean) == 4**4
    assert sum(r["minimiser_shape"] for r in clean) == 24


def test_a_deliberately_split_representation_fails_the_verdict(tiny_rows):
    """Replace one trained seed by a code that splits a cluster (natural images 0, 1 of cluster 0
    on one vertex, 2, 3 on another): preservation and the gap to L* both fail."""
    data = sim.make_data(2, TINY)
    codes = vertex_codes(2)[data.content].copy()
    split_views = (data.content == 0) & (np.arange(data.num_views) % TINY.points_per_cluster >= 2)
    codes[split_views] = vertex_codes(2)[1]
    split = {"d": 2, "part": "train", "kind": "trained", "index": 0, **sim.measure_code(codes, data, TINY.num_negatives, TINY.beta)}
    assert not split["preserving"] and split["gap"] > 1e-3
    rows = [split if (r["kind"] == "trained" and r["index"] == 0) else r for r in tiny_rows]
    verdict = sim.verdict(rows, TINY)
    assert not verdict.passed
    failed = {c.name for c in verdict.checks if not c.passed}
    assert any("cluster-preserving" in name for name in failed)
    assert any("exact loss - L*" in name for name in failed)


def test_a_collapsed_representation_fails_the_verdict(tiny_rows):
    data = sim.make_data(2, TINY)
    collapsed = {"d": 2, "part": "train", "kind": "trained", "index": 1, **sim.measure_code(np.ones((data.num_views, 2)), data, TINY.num_negatives, TINY.beta)}
    assert collapsed["tv"] == pytest.approx(0.75)
    rows = [collapsed if (r["kind"] == "trained" and r["index"] == 1) else r for r in tiny_rows]
    assert not sim.verdict(rows, TINY).passed


def test_converse_fails_when_the_class_can_split_clusters_for_free(tiny_rows):
    """With B = T the class holds sign(cos T s), which is clean and splits every cluster in two.
    Coordinate 1 = sign(cos T s), coordinate 2 = +1 on clusters 0, 1 and -1 on 2, 3: uniform,
    clean, not cluster-preserving - and at L* exactly (the Theorem 4.7 phenomenon). The
    converse check must then fail."""
    T = TINY.teeth
    data = sim.make_data(2, TINY)
    weights = np.zeros((4 + 2 * T, 2))
    weights[4 + T - 1, 0] = 1.0  # cos(T s)
    weights[:4, 1] = [1.0, 1.0, -1.0, -1.0]
    codes = code_from_weights(data, weights, bandwidth=T)
    row = sim.measure_code(codes, data, TINY.num_negatives, TINY.beta)
    assert row["alignment_error"] == 0.0 and row["uniform"] and not row["preserving"]
    assert abs(row["gap"]) < 1e-9
    verdict = sim.verdict(tiny_rows + [{"d": 2, "part": "converse", "kind": "split-cluster", "index": 99, **row}], TINY)
    failed = [c.name for c in verdict.checks if not c.passed]
    assert len(failed) == 1 and "converse" in failed[0]


def test_converse_codes_are_in_the_class_and_split_codes_split():
    data = sim.make_data(2, TINY)
    codes = sim.converse_codes(2, data, TINY, np.random.default_rng(1))
    assert set(codes) == set(sim.CONVERSE_KINDS)
    for table in codes.values():
        assert table.shape[1:] == (data.num_views, 2) and set(np.unique(table)) <= {-1.0, 1.0}
    split_rows = [sim.measure_code(c, data, 4, 1.0) for c in codes["split-cluster"]]
    assert sum(not r["preserving"] for r in split_rows) >= len(split_rows) // 2


def test_preservation_counts_augmented_views():
    """Natural images pure but one augmented view off its cluster's vertex: not preserving."""
    data = sim.make_data(2, TINY)
    codes = vertex_codes(2)[data.content].copy()
    augmented = np.setdiff1d(np.arange(data.num_views), data.base_view)[0]
    codes[augmented] = -codes[augmented]
    assert preserves_clusters(codes, data)  # natural images only
    assert not sim.preserving_on_all_views(codes, data)


def test_plot_draws_one_panel_per_dimension(tiny_rows):
    fig = sim.plot(tiny_rows, TINY)
    assert len(fig.axes) == 1
    import matplotlib.pyplot as plt

    plt.close(fig)


@pytest.mark.parametrize(
    "changes,field",
    [({"dims": ()}, "dims"), ({"dims": (0,)}, "dims"), ({"seeds": 0}, "seeds"), ({"bandwidth": -1}, "bandwidth"), ({"beta": 0.0}, "beta"), ({"gap_tolerance": -1.0}, "gap_tolerance")],
)
def test_config_validation_names_the_field(changes, field):
    with pytest.raises(ValueError, match=field):
        sim.Config(**changes)


def test_scales_are_valid_configs():
    assert set(sim.SCALES) >= {"default", "paper"}
    assert max(sim.SCALES["paper"].dims) == 4 and sim.SCALES["paper"].seeds > sim.SCALES["default"].seeds
