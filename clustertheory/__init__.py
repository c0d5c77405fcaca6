"""clustertheory: checks the theory of contrastive learning by exact computation and simulation.

Where things live:
    clustertheory.data       latent content/style datasets with exact augmentation graphs
    clustertheory.functions  function classes with a capacity dial (hypercube codes g = sign(score))
    clustertheory.losses     InfoNCE and its relatives, on one masked-logsumexp primitive
    clustertheory.training   trainers (single and batched) and the sweep runner
    clustertheory.analysis   metrics, exact population loss, delta-regularity, blurring, downstream heads
    clustertheory.simulation the simulation contract: config, run, verdict, figure, results
    simulations/             one thin script per theorem or phenomenon
"""

__version__ = "0.1.0"
