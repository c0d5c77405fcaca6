"""Analysis: measurements and exact computations on representations. Encoders and codes are
trained in :mod:`clustertheory.training`; gradient searches that are part of a measurement (the
split adversary, downstream heads, descent against the minimum-norm solution) stay here.

    hypercube   vertex index <-> {-1,+1}^d code, Hamming distances
    metrics     alignment, cluster purity / preservation / agreement, uniformity of a vertex law
    exact_loss  exact population InfoNCE of hypercube codes (finite sums, Laplace quadrature)
    blurring    the lazy walk on H_d, the reduced loss along it, the Hamming-distance chain (Lemma 4.4)
    codes       the realizable comb of Theorems 4.5-4.7, a code's summary (preservation, law, exact
                gap), exact-loss cross-checks, the cluster-constant vertex laws
    regularity  delta-regularity: spectral and empirical delta, the split adversary, Theorem 5.4's splits
    downstream  cluster-faithful tasks, exact Bayes / best-linear errors, trained and explicit heads
    negatives   same-cluster and same-image rates of the trainer's negatives, the negative regimes
    embedding   continuous embeddings: uniformity, alignment, linear probe, false-negative rate, class state
    sentences   dropout sentence encoders (SimCSE++): gradient noise over dropout draws, probe
                metrics, effective rank, matched gradient shares
    min_norm    the minimum-norm minimiser of the spectral losses (class collapse, feature suppression)
    collapse    what the Xue et al. simulations measure on it: collapse, learning order, kept fractions
    arms        reading result rows: arms on shared seeds, groups, per-seed shares, cell means
"""
