"""Training: the InfoNCE trainer of hypercube codes and the fitting of real-valued encoders.

    trainer     TrainConfig and ``train`` (one model), the relaxation of scores to codes
    batched     the one training loop: many members (seeds x settings x classes) in one pass
    fitting     the small fitting loop of the real-valued embedding simulations, optimisers
    codes       comb codes trained in one pass (Theorems 4.5-4.7)
    negatives   training with the ways of using K negatives (hard, debiased, synthetic)
    sentences   dropout sentence encoders: pretraining, the arms' fine-tuning, a matched gradient share
    collapse    SupCon / InfoNCE probe training of the Xue et al. simulations
    presets     training settings several simulations share (real-digits and its twin)
"""

from .trainer import TrainConfig, TrainResult, relax, train

__all__ = ["TrainConfig", "TrainResult", "relax", "train"]
