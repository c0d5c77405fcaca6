"""Every degenerate configuration raises ValueError naming the parameter."""

import pytest
import torch

from clustertheory import losses as L

a, p, n = torch.randn(4, 3), torch.randn(4, 3), torch.randn(4, 5, 3)
no_negatives = torch.randn(4, 0, 3)


@pytest.mark.parametrize("temperature", [0.0, -1.0, float("inf"), float("nan")])
@pytest.mark.parametrize(
    "call",
    [
        lambda t: L.infonce(a, p, n, temperature=t),
        lambda t: L.infonce(a, p, temperature=t),
        lambda t: L.decoupled(a, p, temperature=t),
        lambda t: L.supcon_out(a, torch.tensor([0, 0, 1, 1]), temperature=t),
        lambda t: L.debiased(a, p, n, temperature=t),
        lambda t: L.hard_debiased(a, p, n, temperature=t),
        lambda t: L.dropout_infonce(a, p, n[:, 0], temperature=t),
        lambda t: L.off_dropout_infonce(torch.nn.Linear(3, 3), a, temperature=t),
    ],
)
def test_temperature_must_be_positive(call, temperature):
    with pytest.raises(ValueError, match="temperature"):
        call(temperature)


@pytest.mark.parametrize(
    "call,name",
    [
        (lambda: L.hypercube_infonce(a, p, n, beta=-0.1), "beta"),
        (lambda: L.hypercube_infonce(a, p, n, beta=torch.tensor([1.0, -0.1, 1.0, 1.0])), "beta"),
        (lambda: L.hypercube_infonce(a, p, n, beta=torch.tensor([1.0, float("nan"), 1.0, 1.0])), "beta"),
        (lambda: L.hypercube_infonce(a, p, n, 1.0, active=torch.ones(4, 5)), "active"),
        (lambda: L.hard_debiased(a, p, n, hardness=-1.0), "hardness"),
        (lambda: L.debiased(a, p, n, tau_plus=1.0), "tau_plus"),
        (lambda: L.debiased(a, p, n, tau_plus=-0.1), "tau_plus"),
        (lambda: L.hard_debiased(a, p, n, tau_plus=1.5), "tau_plus"),
        (lambda: L.dimension_wise(a, p, temperature_d=0.0), "temperature_d"),
        (lambda: L.dimension_wise(a, p, eps=-1.0), "eps"),
        (lambda: L.barlow_decorrelation(a, p, lambda_offdiag=-1.0), "lambda_offdiag"),
        (lambda: L.dropout_infonce(a, p, p, positive_weight=0.0), "positive_weight"),
        (lambda: L.infonce(a, p, n, reduction="avg"), "reduction"),
        (lambda: L.synthesize_hard_negatives(a, n, 0, torch.Generator()), "k"),
        (lambda: L.synthesize_hard_negatives(a, n, 2, torch.Generator(), mode="mixup"), "mode"),
        (lambda: L.select_hard_negatives(a, n, 0), "s"),
        (lambda: L.select_hard_negatives(a, n, 6), "s"),
    ],
)
def test_bad_parameter_is_named(call, name):
    with pytest.raises(ValueError, match=name):
        call()


@pytest.mark.parametrize(
    "call,name",
    [
        (lambda: L.infonce(a, p, no_negatives), "negatives"),
        (lambda: L.decoupled(a, p, no_negatives, symmetric=False, same_view_negatives=False), "negatives"),
        (lambda: L.debiased(a, p, no_negatives), "negatives"),
        (lambda: L.hard_debiased(a, p, no_negatives), "negatives"),
        (lambda: L.hypercube_infonce(a, p, no_negatives, beta=1.0), "negative_codes"),
        (lambda: L.infonce(a[:1], p[:1]), "B >= 2"),
        (lambda: L.decoupled(a[:1], p[:1]), "B >= 2"),
        (lambda: L.supcon_out(a[:2], torch.tensor([0, 0])), "B >= 3"),
        (lambda: L.dropout_infonce(a[:1], p[:1], p[:1]), "B >= 2"),
        (lambda: L.dimension_wise(a[:, :1], p[:, :1]), "d >= 2"),
        (lambda: L.dimension_wise(a[:1], p[:1]), "N >= 2"),
        (lambda: L.synthesize_hard_negatives(a, n[:, :1], 2, torch.Generator()), "s >= 2"),
        (lambda: L.synthesize_hard_negatives(a, no_negatives, 2, torch.Generator(), mode="mix-anchor"), "s >= 1"),
    ],
)
def test_single_or_no_candidate_is_refused(call, name):
    with pytest.raises(ValueError, match=name):
        call()


@pytest.mark.parametrize(
    "call,name",
    [
        (lambda: L.infonce(a, p[:3]), "anchor and positive"),
        (lambda: L.infonce(a, p[:, :2]), "anchor and positive"),
        (lambda: L.infonce(a, p, n[:3]), "negatives"),
        (lambda: L.infonce(a, p, n[..., :2]), "negatives"),
        (lambda: L.infonce(a, p, n[:, 0]), "negatives"),
        (lambda: L.infonce(a[0], p[0]), "anchor"),
        (lambda: L.infonce(torch.ones(4, 3, dtype=torch.long), p), "anchor"),
        (lambda: L.infonce(a, p, n, symmetric=True), "symmetric"),
        (lambda: L.decoupled(a, p, n), "symmetric"),
        (lambda: L.hypercube_infonce(a, p[:2], n, 1.0), "positive_codes"),
        (lambda: L.hypercube_infonce(a, p, n[:3], 1.0), "negative_codes"),
        (lambda: L.hypercube_infonce(a[0], p[0], n[0], 1.0), "codes"),
        (lambda: L.hypercube_infonce(a, p, n, torch.ones(3)), "beta"),
        (lambda: L.hypercube_infonce(a, p, n, torch.ones(4, 5)), "beta"),
        (lambda: L.hypercube_infonce(a, p, n, 1.0, active=torch.ones(4, 4, dtype=torch.bool)), "active"),
        (lambda: L.supcon_out(a, torch.tensor([0, 1, 0])), "labels"),
        (lambda: L.supcon_out(a, torch.tensor([0, 1, 2, 3])), "labels"),
        (lambda: L.debiased(a, p[:2], n), "anchor and positive"),
        (lambda: L.dimension_wise(a, p[:2]), "z1 and z2"),
        (lambda: L.barlow_decorrelation(a, p[:, :2]), "z1 and z2"),
        (lambda: L.dropout_infonce(a, p, p[:2]), "h_bar"),
        (lambda: L.select_hard_negatives(a, torch.randn(4, 5, 2), 1), "candidates"),
        (lambda: L.select_hard_negatives(a, torch.randn(3, 5, 3), 1), "candidates"),
        (lambda: L.synthesize_hard_negatives(a, torch.randn(3, 5, 3), 2, torch.Generator()), "hard_pool"),
    ],
)
def test_shape_mismatch_names_the_shapes(call, name):
    with pytest.raises(ValueError, match=name):
        call()
