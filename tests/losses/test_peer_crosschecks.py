"""Cross-checks against installed peer libraries (each skipped when the peer is absent).

Convention map (ours <- peer), all with cosine similarity and mean reduction:

- info-nce-pytorch ``info_nce(q, p)`` (negative_keys=None): one direction, candidates
  are all B positives, the own positive included (cross-entropy over ``q @ p.T``)
  == ``infonce(q, p)``. ``negative_mode="paired"`` with (B, K, d) negatives: positive
  plus K negatives == ``infonce(q, p, negatives)``. ``negative_mode="unpaired"`` with a
  shared (M, d) bank == ``infonce(q, p, bank.expand(B, M, d))``.
- lightly ``NTXentLoss`` (memory_bank_size=0): SimCLR NT-Xent, both directions, each
  anchor's denominator holds 2B - 1 candidates: its positive, the B - 1 other
  cross-view rows and the B - 1 other same-view rows == ``infonce(a, p,
  symmetric=True, same_view_negatives=True)``. Our default in-batch form is one
  direction over B cross-view candidates, so the two differ unless those options are set.
- lightly ``DCLLoss`` (weight_fn=None): decoupled, both directions, 2B - 2 candidates
  (positive removed) == ``decoupled(a, p)`` with its defaults.
- lightly ``BarlowTwinsLoss(lambda_param)``: batch-norm standardisation (biased
  variance, eps 1e-5) == ``barlow_decorrelation(z1, z2, lambda_param)``.
- pytorch-metric-learning ``NTXentLoss`` on ``cat([a, p])`` with labels
  ``arange(B).repeat(2)``: one loss per positive pair over 2B - 1 candidates, mean over
  the 2B pairs == the same NT-Xent as lightly. (It builds pair lists; fine at this size.)
- pytorch-metric-learning ``SupConLoss``: L_out with self excluded from the
  denominator, averaged over anchors with a non-zero loss (``AvgNonZeroReducer``),
  which drops anchors without a positive exactly as ``supcon_out`` does; no
  ``t / t_base`` factor. PML adds ``finfo.tiny`` to a few denominators (invisible in
  float64).

lightly 1.6 imports torchvision from ``lightly.loss.__init__`` and ``lightly.models``.
Where torchvision cannot be imported, ``lightly_losses`` loads lightly's own
``ntx_ent_loss.py``, ``dcl_loss.py`` and ``barlow_twins_loss.py`` files without running
those package ``__init__`` files; the only stand-in is an empty ``lightly.models.utils``
(the memory bank uses it only when its size is > 0, never here). sys.modules is
restored afterwards.
"""

import importlib
import importlib.util
import sys
import types
from pathlib import Path

import pytest
import torch

from clustertheory.losses import barlow_decorrelation, decoupled, infonce, supcon_out


def draw(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _bare_package(name: str, path: Path) -> types.ModuleType:
    """A package whose submodules import from ``path`` but whose __init__ is not run."""
    module = types.ModuleType(name)
    module.__path__ = [str(path)]
    return module


def _load_lightly_files() -> types.SimpleNamespace:
    root = Path(importlib.util.find_spec("lightly").origin).parent
    saved = {name: module for name, module in sys.modules.items() if name.startswith("lightly")}
    lightly_attributes = dict(vars(sys.modules["lightly"]))
    try:
        sys.modules["lightly.loss"] = _bare_package("lightly.loss", root / "loss")
        sys.modules["lightly.models"] = _bare_package("lightly.models", root / "models")
        sys.modules["lightly.models.modules"] = _bare_package("lightly.models.modules", root / "models" / "modules")
        sys.modules["lightly.models.utils"] = types.ModuleType("lightly.models.utils")
        return types.SimpleNamespace(
            NTXentLoss=importlib.import_module("lightly.loss.ntx_ent_loss").NTXentLoss,
            DCLLoss=importlib.import_module("lightly.loss.dcl_loss").DCLLoss,
            BarlowTwinsLoss=importlib.import_module("lightly.loss.barlow_twins_loss").BarlowTwinsLoss,
        )
    finally:
        for name in [name for name in sys.modules if name.startswith("lightly")]:
            del sys.modules[name]
        sys.modules.update(saved)
        package = sys.modules["lightly"]
        for attribute in set(vars(package)) - set(lightly_attributes):
            delattr(package, attribute)
        vars(package).update(lightly_attributes)


@pytest.fixture(scope="module")
def lightly_losses():
    pytest.importorskip("lightly")
    try:
        import lightly.loss as loss_package
    except ModuleNotFoundError as error:
        if error.name != "torchvision":
            raise
        return _load_lightly_files()
    return types.SimpleNamespace(
        NTXentLoss=loss_package.NTXentLoss, DCLLoss=loss_package.DCLLoss, BarlowTwinsLoss=loss_package.BarlowTwinsLoss
    )


# --- info-nce-pytorch --------------------------------------------------------------------


@pytest.mark.parametrize("temperature", [0.1, 0.5])
def test_info_nce_in_batch(temperature):
    info_nce = pytest.importorskip("info_nce").info_nce
    q, p = draw(6, 5, seed=1), draw(6, 5, seed=2)
    expected = info_nce(q, p, temperature=temperature, reduction="none")
    torch.testing.assert_close(infonce(q, p, temperature=temperature, reduction="none"), expected)


@pytest.mark.parametrize("k", [1, 7])
def test_info_nce_paired_negatives(k):
    info_nce = pytest.importorskip("info_nce").info_nce
    q, p, n = draw(5, 4, seed=3), draw(5, 4, seed=4), draw(5, k, 4, seed=5)
    expected = info_nce(q, p, n, temperature=0.2, negative_mode="paired")
    torch.testing.assert_close(infonce(q, p, n, temperature=0.2), expected)


def test_info_nce_unpaired_bank_is_shared_explicit_negatives():
    info_nce = pytest.importorskip("info_nce").info_nce
    q, p, bank = draw(5, 4, seed=6), draw(5, 4, seed=7), draw(9, 4, seed=8)
    expected = info_nce(q, p, bank, temperature=0.3, negative_mode="unpaired", reduction="sum")
    got = infonce(q, p, bank.expand(5, 9, 4), temperature=0.3, reduction="sum")
    torch.testing.assert_close(got, expected)


# --- lightly -----------------------------------------------------------------------------


@pytest.mark.parametrize("batch", [2, 8])
@pytest.mark.parametrize("temperature", [0.1, 0.5])
def test_lightly_nt_xent(lightly_losses, batch, temperature):
    a, p = draw(batch, 6, seed=9), draw(batch, 6, seed=10)
    expected = lightly_losses.NTXentLoss(temperature=temperature)(a, p)
    got = infonce(a, p, temperature=temperature, symmetric=True, same_view_negatives=True)
    torch.testing.assert_close(got, expected)
    # our default in-batch form (one direction, B candidates) is a different loss
    assert not torch.allclose(infonce(a, p, temperature=temperature), expected)


@pytest.mark.parametrize("batch", [2, 8])
@pytest.mark.parametrize("temperature", [0.1, 0.5])
def test_lightly_decoupled(lightly_losses, batch, temperature):
    a, p = draw(batch, 6, seed=11), draw(batch, 6, seed=12)
    expected = lightly_losses.DCLLoss(temperature=temperature)(a, p)
    torch.testing.assert_close(decoupled(a, p, temperature=temperature), expected)


@pytest.mark.parametrize("shape", [(16, 4), (4, 16)])
@pytest.mark.parametrize("lambda_offdiag", [5e-3, 0.5])
def test_lightly_barlow_twins(lightly_losses, shape, lambda_offdiag):
    z1 = draw(*shape, seed=13)
    z2 = z1 + draw(*shape, seed=14)
    expected = lightly_losses.BarlowTwinsLoss(lambda_param=lambda_offdiag)(z1, z2)
    torch.testing.assert_close(barlow_decorrelation(z1, z2, lambda_offdiag), expected)


# --- pytorch-metric-learning ------------------------------------------------------------


@pytest.mark.parametrize("batch", [2, 7])
@pytest.mark.parametrize("temperature", [0.07, 0.5])
def test_pml_nt_xent(batch, temperature):
    pml_losses = pytest.importorskip("pytorch_metric_learning.losses")
    a, p = draw(batch, 5, seed=15), draw(batch, 5, seed=16)
    expected = pml_losses.NTXentLoss(temperature=temperature)(torch.cat([a, p]), torch.arange(batch).repeat(2))
    got = infonce(a, p, temperature=temperature, symmetric=True, same_view_negatives=True)
    torch.testing.assert_close(got, expected)


@pytest.mark.parametrize(
    "labels", [[0, 0, 1, 1, 2, 2], [0, 1, 0, 1, 0, 3], [0, 0, 0, 1, 1, 1, 1, 2], [0, 1, 2, 3, 4, 4]]
)
@pytest.mark.parametrize("temperature", [0.1, 0.7])
def test_pml_supcon(labels, temperature):
    pml_losses = pytest.importorskip("pytorch_metric_learning.losses")
    z, y = draw(len(labels), 4, seed=17), torch.tensor(labels)
    expected = pml_losses.SupConLoss(temperature=temperature)(z, y)
    torch.testing.assert_close(supcon_out(z, y, temperature=temperature), expected)
