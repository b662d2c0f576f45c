"""Training loops are Keras ``fit()`` calls; this package assembles their inputs and callbacks."""
