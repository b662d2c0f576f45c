"""Training loops are Keras ``fit()`` calls; this package assembles their inputs and callbacks."""

# Training steps one call of the compiled train function runs (Keras ``steps_per_execution``) for
# the classifiers, which log per epoch: at the default scale's small batches Keras's per-step
# overhead is a third of the time (benchmarks/classifier_epoch.py --threads 1: 1.62x images/s on
# FIDS30's batches of 12, 1.27x on MNIST's of 32). The GANs keep 1: they log every step.
STEPS_PER_EXECUTION = 32
