"""Training: the InfoNCE trainer over ensembles of hypercube representations."""

from .trainer import TrainConfig, TrainResult, relax, train

__all__ = ["TrainConfig", "TrainResult", "relax", "train"]
