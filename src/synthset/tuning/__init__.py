"""Optuna sweeps of the GAN settings: search space, objective, storage and workers, best trial."""
