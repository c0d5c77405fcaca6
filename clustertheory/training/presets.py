"""Training settings that several simulations must share (a simulation never imports another).

    DIGITS   real-digits and its synthetic twin (real-digits-twin): one TrainConfig per scale,
             so that the twin's codes train exactly as the digits' codes do
"""

from __future__ import annotations

from .trainer import TrainConfig

DIGITS = {
    "default": TrainConfig(steps=120, batch_size=32, num_negatives=8, beta=2.0, lr=0.05, log_every=120),
    "paper": TrainConfig(steps=600, batch_size=128, num_negatives=16, beta=2.0, lr=0.05, log_every=600),
}
