"""Feature suppression in unsupervised CL (Xue et al. 2023): which features the minimum-norm minimiser keeps.

Four experiments on the data model of clustertheory.data.collapse, each in the two regimes
of clustertheory.analysis.min_norm (n m > dim + 1 "many-views", n m <= dim + 1 "many-dims"):

rule        (embedding size, all means 0) the exact min-norm L_UCL minimiser over a grid of
            class variances phi_1^2 and embedding sizes p, against the two closed forms: the
            unique many-views minimiser ranks the bias first (its T eigenvalue is exactly 1),
            the many-dims least-norm selection ranks the bias as a variance-1 feature (the rule
            as the paper states it). They differ when phi_1^2 > 1; the ``disagreement`` cell
            decides which rule holds where, with gradient descent from small initialisation.
imperfect   high-dimensional irrelevant features and a jittered class coordinate: suppression
            for every p below the number of irrelevant features (exact, training set, GD).
bits        beyond the linear model: shared random bits (Chen, Luo, Li 2021) with an MLP and
            InfoNCE suppress the class; resampled bits or more dimensions restore it.
infonce     the imperfect-augmentation setting with InfoNCE and a linear encoder instead of the
            spectral loss.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from clustertheory.analysis.arms import select
from clustertheory.analysis.embedding import linear_probe_accuracy, probe_split
from clustertheory.analysis.min_norm import (
    DescentConfig,
    outranking_directions,
    population_moments,
    range_basis,
    regime_check,
    spectral_gradient_descent,
    spectral_min_norm,
)
from clustertheory.config import Integer, Real, TupleOf
from clustertheory.data.collapse import (
    REGIMES,
    CollapseConfig,
    collapse_dataset,
    draw_view_pairs,
    stack_training_sets,
)
from clustertheory.functions.ensemble import EncoderSettings
from clustertheory.losses.ensemble import ensemble_infonce
from clustertheory.losses.spectral import spectral_loss_from_moments, ucl_moments
from clustertheory.simulation import Check, Claim, RunContext, SimulationConfig, Verdict
from clustertheory.training.fitting import FitConfig, fit

NAME = "feature-suppression"
SUMMARY = "unsupervised CL suppresses the class feature: which rule the min-norm minimiser follows in each regime, imperfect augmentation, shared random bits, InfoNCE"
SOURCE = "Xue et al. 2023 (ICML), feature suppression"
FIELDS = {"many-views": "many_views", "many-dims": "many_dims"}
BIT_ARMS = (("none", 0, "small"), ("shared", 8, "small"), ("fresh", 8, "small"), ("shared", 8, "large"), ("shared", 16, "large"))


@dataclass(frozen=True)
class Config(SimulationConfig):
    """rule: K = 4, phi_2^2 = 4, phi_k^2/(K-2) = 0.25, sigma = 3, mu = 0, class variance phi_1^2 on
    ``class_variances`` (none at a tie: 1, 4 or 0.25); the disagreement cell phi_1^2 = 2.5, p = 2
    lies between the ties. ``descent``: step 0.02, below 2 / (8 t lambda) = 0.06 for the largest
    feature (lambda = phi_2^2 + s), where plain GD would oscillate. imperfect: K = 20 features,
    phi_1^2 = 2, phi_k = 1, sigma = 0.5, class jitter tau = 1."""

    many_views: CollapseConfig = CollapseConfig(dim=20, num_features=4, num_originals=4000, num_augmentations=2, class_strength=float(np.sqrt(2.5)),
                                                subclass_strength=2.0, irrelevant_strength=float(np.sqrt(0.5)), subclass_mean=0.0, noise=3.0)
    many_dims: CollapseConfig = CollapseConfig(dim=400, num_features=4, num_originals=100, num_augmentations=2, class_strength=float(np.sqrt(2.5)),
                                               subclass_strength=2.0, irrelevant_strength=float(np.sqrt(0.5)), subclass_mean=0.0, noise=3.0)
    class_variances: tuple = (0.5, 1.5, 2.5, 6.0)
    sizes: tuple = (1, 2, 3)
    grid_seeds: int = 3
    disagreement_p: int = 2
    descent: DescentConfig = DescentConfig(steps=3000, lr=0.02, init_scale=0.001)
    imperfect_views: CollapseConfig = CollapseConfig(dim=20, num_features=20, num_originals=1000, num_augmentations=2, class_strength=float(np.sqrt(2)),
                                                     subclass_strength=0.5, irrelevant_strength=1.0, subclass_mean=0.0, noise=0.5, augmentation_noise=1.0)
    imperfect_dims: CollapseConfig = CollapseConfig(dim=300, num_features=20, num_originals=75, num_augmentations=2, class_strength=float(np.sqrt(2)),
                                                    subclass_strength=0.5, irrelevant_strength=1.0, subclass_mean=0.0, noise=0.5, augmentation_noise=1.0)
    imperfect_sizes: tuple = (2, 5, 10, 19, 20)
    imperfect_p: int = 5
    imperfect_descent: DescentConfig = DescentConfig(steps=3000, lr=0.05, init_scale=0.001)
    seeds: int = 10
    # bits: x from the model with the class feature only (dim 16, sigma 1, class jitter 0.5), B bits
    bits_data: CollapseConfig = CollapseConfig(dim=16, num_features=3, num_originals=2000, num_augmentations=2, subclass_strength=0.0,
                                               subclass_mean=0.0, irrelevant_strength=0.0, noise=1.0, augmentation_noise=0.5)
    bits_encoder: EncoderSettings = EncoderSettings(out_dim=32, width=32, depth=1, init_scale=1.0)
    small_p: int = 4
    bits_fit: FitConfig = FitConfig(steps=250, lr=1e-3, optimizer="adam", batch_size=64)
    infonce_encoder: EncoderSettings = EncoderSettings(out_dim=5, width=1, depth=0, init_scale=1.0)
    infonce_fit: FitConfig = FitConfig(steps=200, lr=1e-2, optimizer="adam", batch_size=64)
    temperature: float = 0.2
    probe_examples: int = 750
    probe_cs: tuple = (1.0,)
    # Claims: "kept" = ||W v1|| at least half of its value when nothing outranks it; a probe
    # effect counts from 0.1 of accuracy; "restored" = class probe of 0.9 (chance 0.5).
    minimal_kept: float = 0.5
    minimal_probe_gain: float = 0.1
    restored_probe: float = 0.9
    minimal_transient: float = 0.2
    # Package tolerances: GD endpoint vs the unique minimiser (||W v1|| relative to its kept
    # value); GD's relative loss gap to the minimum where the minimisers form a family.
    gd_tolerance: float = 0.1
    loss_tolerance: float = 1e-3

    constraints = {
        "class_variances": TupleOf(Real(0, open_lo=True), min_len=2, increasing=True), "sizes": TupleOf(Integer(1), increasing=True),
        "grid_seeds": Integer(1), "disagreement_p": Integer(1), "imperfect_sizes": TupleOf(Integer(1), increasing=True),
        "imperfect_p": Integer(1), "seeds": Integer(2), "small_p": Integer(1), "temperature": Real(0, open_lo=True),
        "probe_examples": Integer(12), "probe_cs": TupleOf(Real(0, open_lo=True)),
        "minimal_kept": Real(0, 1, open_lo=True), "minimal_probe_gain": Real(0, 1, open_lo=True), "restored_probe": Real(0.5, 1),
        "minimal_transient": Real(0, open_lo=True), "gd_tolerance": Real(0, open_lo=True), "loss_tolerance": Real(0, open_lo=True),
    }

    def validate(self) -> None:
        for regime, field in (("many-views", "many_views"), ("many-dims", "many_dims"), ("many-views", "imperfect_views"), ("many-dims", "imperfect_dims")):
            data = getattr(self, field)
            if data.regime != regime:
                raise ValueError(f"{field} must be in the {regime} regime, got n m = {data.num_views} against dim + 1 = {data.dim + 1}")
        if self.disagreement_p not in self.sizes:
            raise ValueError(f"disagreement_p must be one of sizes {self.sizes}, got {self.disagreement_p}")
        if self.imperfect_p not in self.imperfect_sizes:
            raise ValueError(f"imperfect_p must be one of imperfect_sizes {self.imperfect_sizes}, got {self.imperfect_p}")
        if not self.small_p < self.bits_encoder.out_dim:
            raise ValueError(f"small_p must be below bits_encoder.out_dim = {self.bits_encoder.out_dim}, got {self.small_p}")

    def data(self, regime: str, part: str = "rule") -> CollapseConfig:
        return getattr(self, FIELDS[regime] if part == "rule" else {"many-views": "imperfect_views", "many-dims": "imperfect_dims"}[regime])


SCALES = {
    "default": Config(),
    "paper": Config(grid_seeds=10, class_variances=(0.5, 0.75, 1.5, 2.0, 2.5, 3.0, 6.0, 12.0), descent=DescentConfig(steps=20000, lr=0.02, init_scale=0.001),
                    imperfect_descent=DescentConfig(steps=20000, lr=0.05, init_scale=0.001),
                    bits_fit=FitConfig(steps=1000, lr=1e-3, optimizer="adam", batch_size=256), infonce_fit=FitConfig(steps=1000, lr=1e-2, optimizer="adam", batch_size=256)),
}



def kept_value(data: CollapseConfig, limit: str) -> float:
    """||W* v1|| of the population min-norm minimiser when nothing outranks v_1 (p = K + 1)."""
    S, M = population_moments(data, "ucl", limit=limit)
    return spectral_min_norm(S, M, data.num_features + 1).norm_along(np.eye(len(S))[0])


def rule_grid(config: Config, ctx: RunContext) -> list[dict]:
    """Exact ||W* v1|| over (regime, phi_1^2, p): population closed form of the regime's limit and
    training sets; with the predictions of the two rules."""
    rows = []
    for regime in REGIMES:
        for variance in config.class_variances:
            data = config.data(regime).replace(class_strength=float(np.sqrt(variance)))
            S_pop, M_pop = population_moments(data, "ucl", limit=regime)
            counts = {limit: outranking_directions(data, limit) for limit in REGIMES}
            kept = kept_value(data, regime)
            for s in range(config.grid_seeds):
                train = collapse_dataset(data, ctx.seed_for(NAME, "rule", regime, variance, s))
                S, M = ucl_moments(train.views)
                basis = range_basis(S)
                for p in config.sizes:
                    rows.append({
                        "kind": "rule", "regime": regime, "class_variance": variance, "seed": s, "p": p, "kept_value": kept,
                        "population_v1": spectral_min_norm(S_pop, M_pop, p).norm_along(np.eye(len(S_pop))[0]),
                        "sample_v1": spectral_min_norm(S, M, p, basis=basis).norm_along(np.eye(len(S))[0]),
                        "stated_kept": p > counts["many-dims"], "bias_first_kept": p > counts["many-views"],
                    })
    return rows


def descent_against_min_norm(data: CollapseConfig, p: int, descent: DescentConfig, config: Config, ctx: RunContext, tag: str, regime: str) -> list[dict]:
    """For every seed: the training-set min-norm ||W* v1|| and GD from small initialisation, traced."""
    seeds = [ctx.seed_for(NAME, tag, regime, s) for s in range(config.seeds)]
    moments = [ucl_moments(collapse_dataset(data, s).views) for s in seeds]
    bases = [range_basis(S) for S, _ in moments]
    best = [spectral_min_norm(S, M, p, basis=b) for (S, M), b in zip(moments, bases)]
    steps = descent.steps
    record = sorted({0, steps} | {int(t) for t in np.unique(np.geomspace(1, steps, 20).astype(int))})
    rows = []
    for step, Ws in spectral_gradient_descent(moments, p, descent, seeds=seeds, record_at=record, bases=bases, device=ctx.device):
        rows += [{"kind": tag, "regime": regime, "seed": e, "p": p, "step": step, "gd_v1": float(np.linalg.norm(W[:, 0])),
                  "min_norm_v1": best[e].norm_along(np.eye(W.shape[1])[0]), "tie_size": best[e].tie_size,
                  "loss_gap": (spectral_loss_from_moments(W, *moments[e]) - best[e].loss) / abs(best[e].loss) if step == steps else float("nan")}
                 for e, W in enumerate(Ws)]
    return rows


def disagreement(config: Config, ctx: RunContext, regime: str) -> list[dict]:
    data = config.data(regime)
    rows = descent_against_min_norm(data, config.disagreement_p, config.descent, config, ctx, "disagreement", regime)
    kept = kept_value(data, regime)
    counts = {limit: outranking_directions(data, limit) for limit in REGIMES}
    return [{**r, "kept_value": kept, "stated_kept": config.disagreement_p > counts["many-dims"],
             "bias_first_kept": config.disagreement_p > counts["many-views"]} for r in rows]


def imperfect(config: Config, ctx: RunContext, regime: str) -> list[dict]:
    """Imperfect augmentation: exact ||W* v1|| over p (population for many-views, training sets) and GD."""
    data = config.data(regime, "imperfect")
    rows = []
    if regime == "many-views":  # the many-dims limit needs perfect augmentation
        S, M = population_moments(data, "ucl")
        rows += [{"kind": "imperfect-population", "regime": regime, "p": p, "population_v1": spectral_min_norm(S, M, p).norm_along(np.eye(len(S))[0]),
                  "outranking": outranking_directions(data)} for p in config.imperfect_sizes]
    for s in range(config.seeds):
        S, M = ucl_moments(collapse_dataset(data, ctx.seed_for(NAME, "imperfect", regime, s)).views)
        basis = range_basis(S)
        rows += [{"kind": "imperfect-sample", "regime": regime, "seed": s, "p": p, "sample_v1": spectral_min_norm(S, M, p, basis=basis).norm_along(np.eye(len(S))[0])}
                 for p in config.imperfect_sizes]
    return rows + descent_against_min_norm(data, config.imperfect_p, config.imperfect_descent, config, ctx, "imperfect-gd", regime)


def _probe(z: np.ndarray, labels: np.ndarray, config: Config) -> float:
    """Test accuracy of the library's linear probe on fresh examples (random half / quarter / quarter split)."""
    return linear_probe_accuracy(z, labels, probe_split(len(labels)), cs=config.probe_cs)["accuracy"]


def bits_dial(config: Config, ctx: RunContext) -> list[dict]:
    """MLP + InfoNCE on views [x, b], one ensemble for every (arm, seed). "shared": each original
    owns its B bits, copied into both views; "fresh": new bits in every view (an augmentation
    that resamples them). A "small" arm reads only the first ``small_p`` outputs (the rest are
    masked to 0, which leaves cosine similarities those of a small_p-dimensional embedding)."""
    data, width = config.bits_data, max(b for _, b, _ in BIT_ARMS)
    members = [(arm, s) for arm in BIT_ARMS for s in range(config.seeds)]
    seeds = [ctx.seed_for(NAME, "bits", *arm, s) for arm, s in members]
    views, _ = stack_training_sets([collapse_dataset(data, s) for s in seeds], ctx.device)
    E, n = len(members), data.num_originals
    g = torch.Generator().manual_seed(seeds[0])
    columns = (torch.arange(width)[None, :] < torch.tensor([arm[1] for arm, _ in members])[:, None]).float()[:, None, :]  # (E, 1, width)
    fresh = torch.tensor([arm[0] == "fresh" for arm, _ in members])[:, None, None]
    outputs = (torch.arange(config.bits_encoder.out_dim)[None, :] < torch.tensor([config.small_p if arm[2] == "small" else config.bits_encoder.out_dim for arm, _ in members])[:, None]).float()[:, None, :]

    def draw_bits(count: int) -> torch.Tensor:
        return (torch.randint(0, 2, (E, count, width), generator=g).float() * 2 - 1) * columns

    own = draw_bits(n)
    net = config.bits_encoder.build(data.dim + width, seeds, ctx.device)

    def loss(step: int) -> torch.Tensor:
        first, second, originals = draw_view_pairs(views, config.bits_fit.batch_size, g)
        shared = torch.gather(own, 1, originals[..., None].expand(-1, -1, width))
        bits_a = torch.where(fresh, draw_bits(originals.shape[1]), shared)
        bits_b = torch.where(fresh, draw_bits(originals.shape[1]), shared)
        za, zb = net(torch.cat([first, bits_a], 2)) * outputs, net(torch.cat([second, bits_b], 2)) * outputs
        return ensemble_infonce(za, zb, temperature=config.temperature, symmetric=True).sum()

    fit(net, loss, config.bits_fit)
    probe = collapse_dataset(data.replace(num_originals=config.probe_examples), seeds[0] + 1)
    x = torch.tensor(probe.originals, dtype=torch.float32)[None].expand(E, -1, -1)
    with torch.no_grad():
        z = (net(torch.cat([x, draw_bits(len(probe.y))], 2)) * outputs).numpy()
    return [{"kind": "bits", "mode": arm[0], "bits": arm[1], "size": arm[2], "seed": s, "probe_class": _probe(z[e], probe.y, config)}
            for e, (arm, s) in enumerate(members)]


def infonce_imperfect(config: Config, ctx: RunContext) -> list[dict]:
    """A linear encoder trained with InfoNCE on the imperfect-augmentation data (many-views size),
    with the class jittered (tau) and without (tau = 0); class probe on fresh examples."""
    base = config.imperfect_views
    arms = [("jittered", base), ("perfect", base.replace(augmentation_noise=0.0))]
    members = [(name, data, s) for name, data in arms for s in range(config.seeds)]
    seeds = [ctx.seed_for(NAME, "infonce", s) for _, _, s in members]  # the two arms share seed s: a paired design
    views, _ = stack_training_sets([collapse_dataset(data, seed) for (_, data, _), seed in zip(members, seeds)], ctx.device)
    net = config.infonce_encoder.build(base.dim, seeds, ctx.device)
    g = torch.Generator().manual_seed(seeds[0])

    def loss(step: int) -> torch.Tensor:
        first, second, _ = draw_view_pairs(views, config.infonce_fit.batch_size, g)
        return ensemble_infonce(net(first), net(second), temperature=config.temperature, symmetric=True).sum()

    fit(net, loss, config.infonce_fit)
    probe = collapse_dataset(base.replace(num_originals=config.probe_examples), seeds[0] + 1)
    with torch.no_grad():
        z = net(torch.tensor(probe.originals, dtype=torch.float32)).numpy()
    return [{"kind": "infonce", "arm": name, "seed": s, "probe_class": _probe(z[e], probe.y, config)} for e, (name, _, s) in enumerate(members)]


def run(config: Config, ctx: RunContext) -> list[dict]:
    units = [{"part": "rule"}] + [{"part": p, "regime": r} for p in ("disagreement", "imperfect") for r in REGIMES] + [{"part": "bits"}, {"part": "infonce"}]

    def work(unit: dict) -> list[dict]:
        part = unit["part"]
        if part in ("disagreement", "imperfect"):
            return (disagreement if part == "disagreement" else imperfect)(config, ctx, unit["regime"])
        return {"rule": rule_grid, "bits": bits_dial, "infonce": infonce_imperfect}[part](config, ctx)

    return ctx.sweep(units, work, desc=NAME)


# ----------------------------------------------------------------------------- verdict


def _final(rows: list[dict]) -> list[dict]:
    """The last step of each seed's trace, by seed."""
    last = {}
    for r in rows:
        if r["seed"] not in last or r["step"] > last[r["seed"]]["step"]:
            last[r["seed"]] = r
    return [last[s] for s in sorted(last)]


def rule_verdict(rows: list[dict], config: Config) -> tuple[list[Check], list[Claim]]:
    checks, claims = [], []
    for regime in REGIMES:
        tag = f"({regime})"
        grid = select(rows, kind="rule", regime=regime)
        rule = "stated_kept" if regime == "many-dims" else "bias_first_kept"
        closed = [(r["population_v1"] > 0.5 * r["kept_value"]) == r[rule] for r in grid]
        sample = [(r["sample_v1"] > 0.5 * r["kept_value"]) == r[rule] for r in grid]
        checks.append(Check.all_of(f"population min-norm keeps v1 exactly where the {regime} closed form says (cells) {tag}", closed))
        checks.append(Check.all_of(f"training-set min-norm keeps v1 (> half its kept value) where the {regime} closed form says (cells x seeds) {tag}", sample))
        finals = _final(select(rows, kind="disagreement", regime=regime))
        kept = finals[0]["kept_value"]
        gap = max(abs(f["gd_v1"] - f["min_norm_v1"]) / kept for f in finals)
        # a unique minimiser (many-views): GD must end at it; a family (many-dims): GD must reach
        # the minimum, and whether it picks the min-norm member is the claim below
        converged = (Check.at_most(f"disagreement cell: GD endpoint vs min-norm, max |d ||W v1|| | / kept value {tag}", gap, config.gd_tolerance)
                     if regime == "many-views" else
                     Check.at_most(f"disagreement cell: GD reaches the minimum value, max relative loss gap {tag}", max(f["loss_gap"] for f in finals), config.loss_tolerance))
        checks.append(converged)
        data = config.data(regime)
        in_regime = regime_check(data, regime)
        disagree = Check.holds("the two rules disagree in this cell", finals[0]["stated_kept"] != finals[0]["bias_first_kept"],
                               f"stated rule: {'kept' if finals[0]['stated_kept'] else 'suppressed'}, bias first: {'kept' if finals[0]['bias_first_kept'] else 'suppressed'}", "different")
        pre = [in_regime, disagree, converged]
        claims.append(Claim.from_mean(
            f"stated-rule-keeps-class {tag}", SOURCE,
            f"||W v1|| = 0 iff phi_1^2 is not among the p largest of (1, phi_1^2, phi_2^2, phi_k^2/(K-2)): at phi_1^2 = {data.class_strength**2:g}, p = {config.disagreement_p} the class is kept",
            [f["min_norm_v1"] / kept for f in finals], "||W* v1|| / its kept value, training set", null=0.0, minimal_effect=config.minimal_kept, preconditions=pre))
        claims.append(Claim.from_mean(
            f"gd-follows-stated-rule {tag}", SOURCE, "gradient descent from small initialisation keeps the class feature in that cell (the simplicity bias)",
            [f["gd_v1"] / kept for f in finals], "||W_GD v1|| / kept value", null=0.0, minimal_effect=config.minimal_kept, preconditions=[in_regime, disagree]))
    return checks, claims


def imperfect_verdict(rows: list[dict], config: Config) -> tuple[list[Check], list[Claim]]:
    checks, claims = [], []
    pop = select(rows, kind="imperfect-population")
    below = [r for r in pop if r["p"] < config.imperfect_views.num_features]
    checks.append(Check.all_of("imperfect augmentation, population: the closed form counts K - 1 directions above v1 (p < K)",
                               [r["outranking"] == config.imperfect_views.num_features - 1 for r in pop]))
    for regime in REGIMES:
        tag = f"({regime})"
        data = config.data(regime, "imperfect")
        kept = kept_value(data.replace(augmentation_noise=0.0), "many-views")
        sample = [r for r in select(rows, kind="imperfect-sample", regime=regime) if r["p"] == config.imperfect_p]
        finals = _final(select(rows, kind="imperfect-gd", regime=regime))
        traces = {s: [r["gd_v1"] for r in select(rows, kind="imperfect-gd", regime=regime, seed=s)] for s in sorted({r["seed"] for r in finals})}
        in_regime = regime_check(data, regime)
        jittered = Check.above("class jitter tau", data.augmentation_noise, 0.0)
        if regime == "many-views":
            claims.append(Claim.from_exact(
                "imperfect-augmentation-suppresses (population)", SOURCE, "with imperfect augmentation the class feature is suppressed for every p below the number of irrelevant features",
                max(r["population_v1"] for r in below) / kept, "max over p < K of ||W* v1|| / kept value, population", null=1.0, minimal_effect=0.1,
                direction="less", preconditions=[in_regime, jittered]))
        claims.append(Claim.from_mean(
            f"imperfect-augmentation-suppresses {tag}", SOURCE, f"... on training sets, at p = {config.imperfect_p}",
            [r["sample_v1"] / kept for r in sample], "||W* v1|| / kept value, training set", null=1.0, minimal_effect=0.1, direction="less",
            preconditions=[in_regime, jittered]))
        claims.append(Claim.from_mean(
            f"gd-learns-class-then-suppresses {tag}", "our observation on Xue et al.'s model", "GD from small initialisation first learns the class feature, then suppresses it",
            [max(t) - t[-1] for t in traces.values()], "peak - final ||W_t v1||", null=0.0, minimal_effect=config.minimal_transient, preconditions=[in_regime, jittered]))
    return checks, claims


def network_verdict(rows: list[dict], config: Config) -> tuple[list[Check], list[Claim]]:
    def probes(**where) -> list[float]:
        return [r["probe_class"] for r in sorted(select(rows, **where), key=lambda r: r["seed"])]

    clean = probes(kind="bits", mode="none", size="small")
    shared, fresh = probes(kind="bits", mode="shared", bits=8, size="small"), probes(kind="bits", mode="fresh", bits=8, size="small")
    learns = Check.at_least("bits: class probe without bits (min over seeds)", min(clean), config.restored_probe)
    source = "Chen, Luo, Li 2021 (shared random bits), via Xue et al. 2023"
    suppressed = Check.at_most("bits: 8 shared bits at small p suppress the class (mean probe)", float(np.mean(shared)), 0.75)
    perfect, jittered = probes(kind="infonce", arm="perfect"), probes(kind="infonce", arm="jittered")
    learns_nce = Check.at_least("InfoNCE, perfect augmentation: class probe (min over seeds)", min(perfect), config.restored_probe)
    claims = [
        Claim.from_paired("shared-bits-suppress", source, f"bits shared by both views suppress the class feature (p = {config.small_p}, 8 bits)", clean, shared,
                          "class probe, no bits - shared bits", minimal_effect=config.minimal_probe_gain, preconditions=[learns]),
        Claim.from_paired("fresh-bits-restore", source, "resampling the bits in every view restores it", fresh, shared, "class probe, fresh - shared bits",
                          minimal_effect=config.minimal_probe_gain, preconditions=[learns, suppressed]),
    ]
    for bits in (8, 16):
        claims.append(Claim.from_mean(f"more-dimensions-restore ({bits} bits)", source, f"more embedding dimensions ({config.bits_encoder.out_dim}) restore the class with {bits} shared bits",
                                      probes(kind="bits", mode="shared", bits=bits, size="large"), "class probe accuracy", null=0.5,
                                      minimal_effect=config.restored_probe, preconditions=[learns, suppressed]))
    claims.append(Claim.from_paired("infonce-imperfect-augmentation-suppresses", "Xue et al. 2023 (feature suppression 2), with InfoNCE",
                                    f"with a jittered class coordinate InfoNCE (linear encoder, p = {config.infonce_encoder.out_dim}) suppresses the class feature",
                                    perfect, jittered, "class probe, tau = 0 - tau > 0", minimal_effect=config.minimal_probe_gain, preconditions=[learns_nce]))
    return [learns, learns_nce], claims


def verdict(rows: list[dict], config: Config) -> Verdict:
    checks, claims = [], []
    for part in (rule_verdict, imperfect_verdict, network_verdict):
        more_checks, more_claims = part(rows, config)
        checks += more_checks
        claims += more_claims
    return Verdict(checks, claims)


# ----------------------------------------------------------------------------- figure


def plot(rows: list[dict], config: Config):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(15, 8.5))
    colors = plt.cm.viridis(np.linspace(0, 0.85, len(config.sizes)))
    variances = list(config.class_variances)
    for ax, regime in zip(axes[0, :2], REGIMES):
        grid = select(rows, kind="rule", regime=regime)
        for k, (p, color) in enumerate(zip(config.sizes, colors)):
            shift = 0.25 * (k - (len(config.sizes) - 1) / 2)
            cells = sorted(select(grid, p=p, seed=0), key=lambda r: r["class_variance"])
            xs = [variances.index(r["class_variance"]) + shift for r in cells]
            ax.plot(xs, [r["population_v1"] / r["kept_value"] for r in cells], "s", color=color, ms=9, mfc="none", mew=1.5,
                    label=f"p={p}: closed form ({regime} limit)")
            sample = [r for r in grid if r["p"] == p]
            ax.plot([variances.index(r["class_variance"]) + shift for r in sample], [r["sample_v1"] / r["kept_value"] for r in sample], ".",
                    color=color, ms=5, label=f"p={p}: training sets ({config.grid_seeds})")
            ax.plot(xs, [1.12 if r["stated_kept"] else -0.12 for r in cells], "^", color=color, ms=5, mfc="none",
                    label="stated rule: kept (top) / suppressed (bottom)" if k == 0 else None)
        ax.set_xticks(range(len(variances)), [f"{v:g}" for v in variances])
        ax.set(xlabel=f"class variance phi_1^2 (phi_2^2 = {config.many_views.subclass_strength**2:g}, irrelevant {config.many_views.irrelevant_variance:g}; bias 1)",
               ylabel="||W* v1|| / kept value", ylim=(-0.2, 1.2), title=f"{regime}: which rule the min-norm L_UCL minimiser follows")
        ax.legend(fontsize=6, loc="center left")

    ax = axes[0, 2]
    for regime, ls in zip(REGIMES, ("-", "--")):
        trace = select(rows, kind="disagreement", regime=regime)
        steps = sorted({r["step"] for r in trace})
        kept = trace[0]["kept_value"]
        ax.plot(np.array(steps) + 1, [np.mean([r["gd_v1"] for r in trace if r["step"] == t]) / kept for t in steps], ls, color="tab:red", label=f"GD, {regime}")
        ax.axhline(np.mean([r["min_norm_v1"] for r in _final(trace)]) / kept, color="black", ls=ls, lw=0.8, label=f"min-norm, {regime}")
    ax.set(xscale="log", xlabel="GD step + 1", ylabel="||W v1|| / kept value (mean over seeds)", ylim=(-0.05, 1.2),
           title=f"disagreement cell phi_1^2 = {config.many_views.class_strength**2:g}, p = {config.disagreement_p}")
    ax.legend(fontsize=7)

    ax = axes[1, 0]
    pop = sorted(select(rows, kind="imperfect-population"), key=lambda r: r["p"])
    ax.plot([r["p"] for r in pop], [r["population_v1"] for r in pop], "k-", label="population (many-views)")
    for regime, color in zip(REGIMES, ("tab:purple", "tab:green")):
        sample = select(rows, kind="imperfect-sample", regime=regime)
        ps = sorted({r["p"] for r in sample})
        ax.plot(ps, [np.mean([r["sample_v1"] for r in sample if r["p"] == p]) for p in ps], "o--", color=color, label=f"training sets, {regime}")
        trace = select(rows, kind="imperfect-gd", regime=regime)
        steps = sorted({r["step"] for r in trace})
        inset = axes[1, 1]
        inset.plot(np.array(steps) + 1, [np.mean([r["gd_v1"] for r in trace if r["step"] == t]) for t in steps], color=color, label=f"GD, {regime}")
    ax.axvline(config.imperfect_views.num_features, color="grey", lw=0.7, ls=":")
    ax.set(xlabel="embedding size p", ylabel="||W* v1||", title=f"imperfect augmentation (tau = {config.imperfect_views.augmentation_noise:g}, K = {config.imperfect_views.num_features})")
    ax.legend(fontsize=7)
    axes[1, 1].set(xscale="log", xlabel="GD step + 1", ylabel="||W_t v1|| (mean over seeds)", title=f"imperfect augmentation, GD p = {config.imperfect_p}: learned, then suppressed")
    axes[1, 1].legend(fontsize=7)

    ax = axes[1, 2]
    labels, values = [], []
    for mode, bits, size in BIT_ARMS:
        labels.append(f"{mode}\n{bits} bits\np={config.small_p if size == 'small' else config.bits_encoder.out_dim}")
        values.append([r["probe_class"] for r in select(rows, kind="bits", mode=mode, bits=bits, size=size)])
    for arm in ("perfect", "jittered"):
        labels.append(f"InfoNCE\nlinear\n{'tau=0' if arm == 'perfect' else 'jittered'}")
        values.append([r["probe_class"] for r in select(rows, kind="infonce", arm=arm)])
    for i, vals in enumerate(values):
        ax.plot(np.full(len(vals), i) + np.linspace(-0.15, 0.15, len(vals)), vals, "o", ms=3, color="tab:blue" if i < len(BIT_ARMS) else "tab:orange")
        ax.plot([i - 0.25, i + 0.25], [np.mean(vals)] * 2, "k-")
    ax.axhline(0.5, color="grey", lw=0.6)
    ax.set_xticks(range(len(labels)), labels, fontsize=6)
    ax.set(ylabel="class probe, fresh examples", ylim=(0.4, 1.02), title=f"beyond linear: MLP + InfoNCE with random bits; linear InfoNCE ({config.seeds} seeds)")
    for ax in axes.flat:
        ax.title.set_fontsize(9)
    fig.tight_layout()
    return fig
