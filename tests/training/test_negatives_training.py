"""Training with the ways of using K negatives (clustertheory.training.negatives)."""

import pytest

from clustertheory.data import comb_dataset
from clustertheory.functions import EnsembleMLP
from clustertheory.training.fitting import FitConfig
from clustertheory.training.negatives import train_negative_methods


def test_train_negative_methods_gives_curves_then_a_final_row_per_member():
    datasets = [comb_dataset(2, 4, 2, leak=0.5, observation="mlp", obs_dim=8, seed=s) for s in range(2)]
    seeds, methods = [0, 1, 0, 1], ["plain", "plain", "hard-select", "hard-select"]
    options = {"num_negatives": 4, "pool_factor": 2, "temperature": 0.5, "hardness": 1.0, "overestimate": 1.5, "synthesis": "mix-negatives",
               "checkpoints": (0, 2, 4), "measure_batch": 16, "cell_seed": 3}
    encoder = EnsembleMLP(8, 4, [10, 11, 10, 11], width=8, depth=1, dropout=0.0, normalize=True)
    rows = train_negative_methods(datasets, seeds, methods, encoder, FitConfig(steps=4, lr=1e-2, batch_size=16), **options)
    assert [[r["kind"] for r in member] for member in rows] == [["curve"] * 3 + ["final"]] * 4
    finals = [member[-1] for member in rows]
    assert all(f["prior"] == pytest.approx(3 / 7) and f["classes"] == 2 and f["floor_share"] == 0 for f in finals)
    assert all(f["negatives_seen"] == 2 * 16 * 4 for f in finals)  # measured at steps 2 and 4
    assert all(0 <= f["false_negative_rate"] <= 1 and f["state"] in ("preserved", "merged", "split", "mixed") for f in finals)
    with pytest.raises(ValueError, match="grouped"):
        train_negative_methods(datasets, seeds, ["plain", "hard-select", "plain", "hard-select"], encoder, FitConfig(steps=1), **options)
