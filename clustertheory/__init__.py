"""clustertheory: checks the theory of contrastive learning by exact computation and simulation.

Where things live:
    clustertheory.data        latent content/style datasets with exact augmentation graphs, samplers
    clustertheory.functions   function classes with a capacity dial (hypercube codes g = sign(score)),
                              and real-valued encoders
    clustertheory.losses      InfoNCE and its relatives, on one masked-logsumexp primitive
    clustertheory.training    trainers (one training loop, batched over ensemble members)
    clustertheory.analysis    metrics, exact population loss, delta-regularity, blurring, downstream heads
    clustertheory.statistics  intervals over seeds (paired, Wilson, Welch), detectable effects
    clustertheory.verdict     package checks (PASS/FAIL) and paper claims (status, effect, interval)
    clustertheory.config      declared constraints of every setting
    clustertheory.simulation  the simulation contract: config, run, verdict, figure, results
    clustertheory.sweep       resumable sweeps; clustertheory.executors: where their batches run
    clustertheory.reproduce   many simulations side by side, one progress display, one summary
    simulations/              one thin script per theorem or phenomenon
"""

__version__ = "0.1.0"
