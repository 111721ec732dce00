"""Sub-task 1, membership: which real images trained the generator.

Modules: `folds` (grouped folds and thresholds on the labelled split), `decisions` (a run's
scores to decisions and metrics), `splits` (features by role), `submissions`, `metrics`
(AUC, F1, kappa, TPR at low FPR with grouped intervals), `regions` (the paper's method A:
distances to clusters of generated images), `autoencoder` and `error_maps` (the paper's method
B: reconstruction errors and their decisions), `attacks` (GAN-Leaks, patches, Monte Carlo,
DOMIAS), `calibrations` (label-free calibrations of the nearest neighbour: shifted copies,
alignment, the real images' own spacing), `ensemble` (a rank average of attacks), `runs`
(method B and the attacks run on a dataset), `controls` (what an attack must beat, and the
check of the groups), `selection` (the run a dataset recommends, and its honest estimate).
"""
