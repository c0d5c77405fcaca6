"""Analysis: measurements and exact computations on representations.

    hypercube   vertex index <-> {-1,+1}^d code, Hamming distances
    metrics     alignment, cluster purity / preservation / agreement, uniformity of a vertex law
    exact_loss  exact population InfoNCE of hypercube codes (finite sums, Laplace quadrature)
    blurring    the lazy walk on H_d, the reduced loss along it, the Hamming-distance chain (Lemma 4.4)
"""
