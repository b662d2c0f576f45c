"""synthset: synthetic image datasets from per-class GANs, and how real they are."""

__version__ = "0.1.0"
