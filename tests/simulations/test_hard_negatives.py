"""The hard-negative simulation on a tiny setting: package checks pass on a real run and each can
fail (leak 0, a biased sampler); claims follow the measured effects and become not-testable when
hard selection picks no more false negatives than uniform sampling."""

import pytest
import torch

import simulations.hard_negatives as hn
from clustertheory.data import comb_dataset
from clustertheory.data.sampling import negatives_excluding_anchor
from clustertheory.losses.hard_negatives import select_negatives
from clustertheory.simulation import RunContext
from clustertheory.training.fitting import FitConfig
from helpers import doctored

TINY = hn.Config(num_clusters=(2, 4), num_negatives=(4,), points_per_cluster=4, seeds=2, measure_batch=32,
                 train=FitConfig(steps=8, lr=3e-3, batch_size=32), checkpoints=(0, 4, 8))


@pytest.fixture(scope="module")
def rows():
    return hn.run(TINY, RunContext.for_tests())


def test_tiny_run_passes_the_package_checks_and_has_every_row(rows):
    verdict = hn.verdict(rows, TINY)
    assert verdict.passed, verdict.report()
    finals = [r for r in rows if r["kind"] == "final"]
    assert len(finals) == 2 * len(TINY.methods) * TINY.seeds
    assert all(0 <= r["false_negative_rate"] <= 1 and 0 <= r["floor_share"] <= 1 for r in finals)
    assert all(r["floor_share"] == 0 for r in finals if r["method"] in ("plain", "hard-select", "synthetic", "hard-weight"))
    assert all(r["prior"] == pytest.approx(3 / 7) for r in finals if r["num_clusters"] == 2)  # 3 cluster mates among 7 others


def test_every_package_check_can_fail(rows):
    instance_classes = doctored(rows, lambda r: r.update(classes=r["num_clusters"] * TINY.points_per_cluster), kind="final")
    assert not hn.verdict(instance_classes, TINY).checks[0].passed  # leak 0: each base point its own class
    biased = doctored(rows, lambda r: r.update(false_negative_rate=0.9), kind="final", method="plain", num_clusters=4)
    assert not hn.verdict(biased, TINY).checks[1].passed  # a sampler that over-draws the anchor's cluster


def test_claims_follow_the_measured_effects(rows):
    plain = {(r["seed"], r["num_clusters"]): r for r in rows if r["kind"] == "final" and r["method"] == "plain"}

    def regime(r):  # plain keeps the classes; hard selection picks false negatives
        r["state"] = "preserved" if r["method"] == "plain" else r["state"]
        if r["method"] == "hard-select":
            r["false_negative_rate"] = plain[(r["seed"], r["num_clusters"])]["false_negative_rate"] + 0.3

    base = doctored(rows, regime, kind="final")
    split = doctored(base, lambda r: r.update(within=plain[(r["seed"], r["num_clusters"])]["within"] - 0.2), kind="final", method="hard-select")
    assert hn.verdict(split, TINY).claim("hard-selection-splits-classes").status == "reproduced"
    kept = doctored(base, lambda r: r.update(within=plain[(r["seed"], r["num_clusters"])]["within"] + 0.2), kind="final", method="hard-select")
    assert hn.verdict(kept, TINY).claim("hard-selection-splits-classes").status == "not-reproduced"
    blind = doctored(split, lambda r: r.update(false_negative_rate=plain[(r["seed"], r["num_clusters"])]["false_negative_rate"]), kind="final", method="hard-select")
    assert hn.verdict(blind, TINY).claim("hard-selection-splits-classes").status == "not-testable"


def test_hard_selection_on_clustered_embeddings_picks_false_negatives():
    """With every cluster at one point, the hardest candidates are the anchor's cluster mates."""
    data = comb_dataset(2, 4, 2, leak=0.5)
    anchor = torch.as_tensor(data.base_view).repeat(64)
    candidates = negatives_excluding_anchor(data, anchor, 16, torch.Generator().manual_seed(0))
    content = torch.as_tensor(data.content)
    z = torch.nn.functional.normalize(torch.nn.functional.one_hot(content, 2).double() + 0.01 * torch.randn(len(content), 2, dtype=torch.float64, generator=torch.Generator().manual_seed(2)), dim=1)
    similarity = torch.einsum("nd,npd->np", z[anchor], z[candidates])
    _, chosen, _ = select_negatives("hardest", z[anchor], similarity, None, 4, torch.Generator().manual_seed(1))
    same = content[candidates.gather(1, chosen)] == content[anchor][:, None]
    assert float(same.float().mean()) > 0.97  # 16 candidates hold >= 4 cluster mates (each w.p. 3/7) with probability 0.98
    assert abs(float((content[candidates[:, :4]] == content[anchor][:, None]).float().mean()) - 3 / 7) < 0.05  # uniform: the prior


def test_plot_builds(rows):
    import matplotlib.pyplot as plt

    figure = hn.plot(rows, TINY)
    assert len(figure.axes) == 10
    plt.close(figure)


@pytest.mark.parametrize("change, match", [
    ({"num_negatives": (1,)}, "num_negatives"),
    ({"leak": 0.0}, "leak"),
    ({"checkpoints": (5, 300)}, "checkpoints"),
    ({"synthesis": "average"}, "synthesis"),
    ({"overestimate": 1.0}, "overestimate"),
    ({"methods": ("plain", "hard-select")}, "methods"),
])
def test_config_validation(change, match):
    with pytest.raises(ValueError, match=match):
        hn.Config(**change)
    assert hn.SCALES["paper"].seeds > hn.SCALES["default"].seeds >= 10
