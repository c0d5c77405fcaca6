"""Analysis: measurements and exact computations on representations.

    hypercube   vertex index <-> {-1,+1}^d code, Hamming distances
    metrics     alignment, cluster purity / preservation / agreement, uniformity of a vertex law
    exact_loss  exact population InfoNCE of hypercube codes (finite sums, Laplace quadrature)
    blurring    the lazy walk on H_d, the reduced loss along it, the Hamming-distance chain (Lemma 4.4)
    codes       the realizable comb of Theorems 4.5-4.7, a code's summary (preservation, law, exact
                gap), exact-loss cross-checks, the cluster-constant vertex laws
    negatives   same-cluster and same-image rates of the trainer's negatives; the hard-negative
                methods' training cell (false negatives, floor, what happened to the classes)
    sentences   dropout sentence encoders (SimCSE++): gradient noise over dropout draws, probe
                metrics, matched gradient shares, the arms' fine-tuning
    downstream  cluster-faithful tasks, exact Bayes / best-linear errors, trained and explicit heads
"""
