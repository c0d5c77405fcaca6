"""The data model of Xue et al. (ICML 2023, arXiv 2305.16536): class, subclass, irrelevant features.

With an orthonormal basis ``v_1..v_dim`` (the standard basis here: gradient descent from an
isotropic initialisation is rotation-equivariant, so nothing depends on the choice), an
original example is

    x = (y phi_1 + mu_1) v_1 + (y_sub phi_2 + mu_2) v_2 + (rho phi_k + mu_k) v_k + xi

with class ``y`` and subclass ``y_sub`` independent and uniform on {-1, +1}, one irrelevant
feature ``k ~ Unif{3..K}`` with sign ``rho ~ Unif{-1, +1}``, and noise ``xi`` with second
moment ``sigma^2/dim I`` of one of three kinds:

    "gaussian"      N(0, sigma^2/dim I)                                  (default)
    "signed-basis"  uniform over {+-sigma v_1, ..., +-sigma v_dim}       (zero mean)
    "basis"         uniform over {sigma v_1, ..., sigma v_dim}           (the specification's words)

The literal "basis" noise has mean ``(sigma/dim) (1, ..., 1)``: the sum of the coordinates
outside the features is then almost constant, a second bias, and it shifts the
feature-suppression threshold by one (see paper_notes/feature_suppression.md), so the
zero-mean kinds are the ones the simulations use. Write ``u`` for the noiseless part.

Each of the ``n`` originals gets ``m`` augmentations ``x_{i,a} = u_i + xi_{i,a}`` that keep
``u`` and redraw the noise. Imperfect augmentation (``augmentation_noise = tau > 0``) also adds
``tau N(0, 1)`` to the class and subclass coordinates of every augmentation, independently,
and keeps the irrelevant feature: positive pairs then agree exactly on the irrelevant
feature and only approximately on the class feature.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..config import Integer, OneOf, Real, Settings, check_positive_int, setting
from ..utils import resolve_device, torch_generator

NOISE_KINDS = ("gaussian", "signed-basis", "basis")


REGIMES = ("many-views", "many-dims")


@dataclass(frozen=True)
class CollapseConfig(Settings):
    """Parameters of the class / subclass / irrelevant-feature model (paper notation in brackets).

    A nested settings block: a simulation holds one per regime (``--set many_views.dim=300``).
    """

    dim: int = setting(2000, Integer(1), "[d] ambient dimension, >= num_features")
    num_features: int = setting(4, Integer(3), "[K] v_1 class, v_2 subclass, v_3..v_K irrelevant; K >= 3")
    num_originals: int = setting(1000, Integer(1), "[n] originals drawn")
    num_augmentations: int = setting(5, Integer(1), "[m] augmentations per original")
    class_strength: float = setting(1.0, Real(0), "[phi_1] strength of the class feature")
    subclass_strength: float = setting(1.0, Real(0), "[phi_2] strength of the subclass feature")
    irrelevant_strength: float = setting(1.0, Real(0), "[phi_k, k >= 3] strength of the irrelevant features")
    class_mean: float = setting(0.0, Real(), "[mu_1] mean of the class coordinate")
    subclass_mean: float = setting(1.0, Real(), "[mu_2 = mu] mean of the subclass coordinate")
    irrelevant_mean: float = setting(0.0, Real(), "[mu_k, k >= 3] mean of the irrelevant coordinates")
    noise: float = setting(2.0, Real(0), "[sigma] noise scale")
    noise_kind: str = setting("gaussian", OneOf(*NOISE_KINDS), "kind of noise, one of NOISE_KINDS (module docstring)")
    augmentation_noise: float = setting(0.0, Real(0), "[tau] jitter of the class and subclass coordinates of augmentations")

    def validate(self) -> None:
        if self.dim < self.num_features:
            raise ValueError(f"dim must be >= num_features = {self.num_features}, got {self.dim}")

    @property
    def irrelevant_variance(self) -> float:
        """Variance phi_k^2 / (K - 2) of one irrelevant coordinate (each is active w.p. 1/(K-2))."""
        return self.irrelevant_strength**2 / (self.num_features - 2)

    @property
    def num_views(self) -> int:
        """n m, the training views."""
        return self.num_originals * self.num_augmentations

    @property
    def regime(self) -> str:
        """"many-views" when the n m lifted views (x, 1) can span R^{dim+1} (n m > dim + 1: the
        minimiser of a spectral loss is generically unique), else "many-dims" (n m <= dim + 1: every
        view can be told apart through the noise, the top eigenvalue of T is tied and the
        minimum-norm member of the family of minimisers is the content)."""
        return "many-views" if self.num_views > self.dim + 1 else "many-dims"


def check_regime(name: str, config: CollapseConfig, regime: str) -> None:
    """Raise ValueError naming the settings field ``name`` unless ``config`` is a training set of
    ``regime`` (:attr:`CollapseConfig.regime`): a simulation's validation of its data blocks."""
    if config.regime != regime:
        raise ValueError(f"{name} must be in the {regime} regime, got n m = {config.num_views} against dim + 1 = {config.dim + 1}")


@dataclass(frozen=True, eq=False)
class CollapseData:
    """One draw of the model.

    originals:   (n, dim) float64  x_i = u_i + xi_i (fresh noise; the "test-time" example)
    views:       (n, m, dim) float64  augmentations x_{i,a} = u_i + xi_{i,a} (+ jitter)
    y:           (n,) int64 class in {-1, +1}
    y_sub:       (n,) int64 subclass in {-1, +1}
    irrelevant:  (n,) int64 the paper's index k in 3..K of the irrelevant feature (coordinate k-1)
    rho:         (n,) int64 its sign in {-1, +1}
    """

    config: CollapseConfig
    originals: np.ndarray
    views: np.ndarray
    y: np.ndarray
    y_sub: np.ndarray
    irrelevant: np.ndarray
    rho: np.ndarray

    @property
    def group(self) -> np.ndarray:
        """(n,) the four (class, subclass) groups as 0..3: 2 [y = +1] + [y_sub = +1]."""
        return 2 * (self.y > 0) + (self.y_sub > 0)

    @property
    def flat_views(self) -> np.ndarray:
        """(n m, dim) all augmentations, original-major: row i m + a is x_{i,a}."""
        n, m, d = self.views.shape
        return self.views.reshape(n * m, d)

    @property
    def view_original(self) -> np.ndarray:
        """(n m,) the original each flat view comes from."""
        n, m = self.views.shape[:2]
        return np.repeat(np.arange(n), m)

    def pair_sampler(self, num_negatives: int = 1, supervised: bool = False, device=None, seed: int = 0) -> CollapsePairSampler:
        """A sampler of (anchor, positive, negatives) flat-view indices; see CollapsePairSampler."""
        return CollapsePairSampler(self, num_negatives=num_negatives, supervised=supervised, device=device, seed=seed)


def collapse_dataset(config: CollapseConfig, seed: int | np.random.Generator = 0) -> CollapseData:
    """Draw ``n`` originals and their ``m`` augmentations from the model (module docstring).

    Seeded: the same ``config`` and integer ``seed`` give the same arrays.
    """
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    c = config
    n, m, d, K = c.num_originals, c.num_augmentations, c.dim, c.num_features
    y = rng.choice(np.array([-1, 1]), size=n)
    y_sub = rng.choice(np.array([-1, 1]), size=n)
    irrelevant = rng.integers(3, K + 1, size=n)
    rho = rng.choice(np.array([-1, 1]), size=n)

    u = np.zeros((n, d))
    rows = np.arange(n)
    u[:, 0] = y * c.class_strength + c.class_mean
    u[:, 1] = y_sub * c.subclass_strength + c.subclass_mean
    u[rows, irrelevant - 1] = rho * c.irrelevant_strength + c.irrelevant_mean

    originals = u + _noise(rng, (n,), c)
    views = u[:, None, :] + _noise(rng, (n, m), c)
    if c.augmentation_noise > 0:
        views[:, :, :2] += c.augmentation_noise * rng.standard_normal((n, m, 2))
    return CollapseData(config=c, originals=originals, views=views, y=y, y_sub=y_sub, irrelevant=irrelevant, rho=rho)


def _noise(rng: np.random.Generator, shape: tuple[int, ...], c: CollapseConfig) -> np.ndarray:
    """Noise of shape (*shape, dim): N(0, sigma^2/dim I), or +-sigma e_j / sigma e_j with j uniform."""
    if c.noise_kind == "gaussian":
        return rng.standard_normal((*shape, c.dim)) * (c.noise / np.sqrt(c.dim))
    out = np.zeros((*shape, c.dim))
    hit = rng.integers(0, c.dim, size=shape)
    value = c.noise * (rng.choice(np.array([-1.0, 1.0]), size=shape) if c.noise_kind == "signed-basis" else np.ones(shape))
    np.put_along_axis(out, hit[..., None], value[..., None], axis=-1)
    return out


class CollapsePairSampler:
    """Draws (anchor, positive, negatives) as flat-view indices into ``data.flat_views``.

    anchor: a uniform augmentation x_{i,a}.
    positive, unsupervised (L_UCL): another augmentation x_{i,a'} of the same original,
        a' != a uniform (needs m >= 2).
    positive, supervised (L_SCL): a uniform augmentation of the anchor's class (itself
        possible, matching the exact second moment sum_c pi_c xbar_c xbar_c^T of the loss).
    negatives: K i.i.d. uniform augmentations, shape (B, K) (may share the anchor's class).
    Same interface as ``clustertheory.data.PairSampler``: ``sample(B)`` returns long tensors.
    """

    def __init__(self, data: CollapseData, num_negatives: int = 1, supervised: bool = False, device=None, seed: int = 0):
        self.num_negatives = check_positive_int("num_negatives", num_negatives)
        n, m = data.views.shape[:2]
        if not supervised and m < 2:
            raise ValueError(f"num_augmentations must be >= 2 for unsupervised positive pairs, got {m}")
        self.supervised = bool(supervised)
        self.device = resolve_device(device)
        self.generator = torch_generator(seed, self.device)
        self.m = m
        self.num_views = n * m
        view_class = torch.as_tensor(np.repeat(data.y, m), device=self.device)
        # Flat-view indices of each class, so a supervised positive is one randint per class.
        self._class_views = [torch.nonzero(view_class == label).squeeze(1) for label in (-1, 1)]
        self._view_class_index = (view_class > 0).long()

    def sample(self, batch_size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Return ``anchor (B,)``, ``positive (B,)``, ``negatives (B, K)`` long view indices."""
        B = check_positive_int("batch_size", batch_size)
        gen, dev = self.generator, self.device
        anchor = torch.randint(self.num_views, (B,), generator=gen, device=dev)
        if self.supervised:
            positive = torch.empty_like(anchor)
            cls = self._view_class_index[anchor]
            for index, members in enumerate(self._class_views):
                chosen = cls == index
                pick = torch.randint(len(members), (int(chosen.sum()),), generator=gen, device=dev)
                positive[chosen] = members[pick]
        else:
            shift = torch.randint(1, self.m, (B,), generator=gen, device=dev)
            original, slot = anchor // self.m, anchor % self.m
            positive = original * self.m + (slot + shift) % self.m
        negatives = torch.randint(self.num_views, (B, self.num_negatives), generator=gen, device=dev)
        return anchor, positive, negatives


def stack_training_sets(datasets: list[CollapseData], device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """The views and class labels of E training sets of one shape, for an ensemble of encoders:
    views (E, n, m, dim) float32 and y (E, n) int64."""
    if not datasets or len({d.views.shape for d in datasets}) != 1:
        raise ValueError("datasets must be a non-empty list of training sets of one shape")
    device = resolve_device(device)
    views = torch.tensor(np.stack([d.views for d in datasets]), dtype=torch.float32, device=device)
    return views, torch.tensor(np.stack([d.y for d in datasets]), device=device)


def draw_view_pairs(views: torch.Tensor, batch_size: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """For each of E training sets, B originals (uniform, with replacement) and two distinct
    augmentations of each: views (E, n, m, D), m >= 2 -> (first (E, B, D), second (E, B, D),
    originals (E, B)). The positive pairs of InfoNCE; the 2B views with their classes are
    SupCon's batch."""
    if views.dim() != 4 or views.shape[2] < 2:
        raise ValueError(f"views must have shape (E, n, m, D) with m >= 2, got {tuple(views.shape)}")
    E, n, m, D = views.shape
    B = check_positive_int("batch_size", batch_size)
    dev = views.device
    originals = torch.randint(n, (E, B), generator=generator, device=generator.device).to(dev)
    first = torch.randint(m, (E, B), generator=generator, device=generator.device).to(dev)
    second = (first + torch.randint(1, m, (E, B), generator=generator, device=generator.device).to(dev)) % m
    members = torch.arange(E, device=dev)[:, None]
    return views[members, originals, first], views[members, originals, second], originals
