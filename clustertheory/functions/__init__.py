"""Function classes with a capacity dial (hypercube codes g = sign(score)) and real-valued encoders."""

from .encoders import EnsembleMLP, MLPEncoder, SeededDropout, dropout_pair, embed, modes
from .ensemble import EncoderSettings
from .classes import CLASS_NAMES, LinearScore, LookupScore, MLPScore, ScoreModel, hard_codes, make_function_class
from .features import content_features, fourier_features, linear_features, random_features

__all__ = [
    "CLASS_NAMES",
    "ScoreModel",
    "LinearScore",
    "LookupScore",
    "MLPScore",
    "hard_codes",
    "make_function_class",
    "content_features",
    "fourier_features",
    "linear_features",
    "random_features",
    "EnsembleMLP",
    "EncoderSettings",
    "MLPEncoder",
    "SeededDropout",
    "dropout_pair",
    "embed",
    "modes",
]
