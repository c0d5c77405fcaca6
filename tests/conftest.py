"""Test-wide settings: headless plotting and one torch thread (the suite's tensors are tiny,
and on a 2-core CI machine thread hand-offs cost more than they save)."""

import matplotlib

matplotlib.use("Agg")

import torch

torch.set_num_threads(1)
