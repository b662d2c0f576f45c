"""What every dataset shares once it is prepared: the archive format of the splits and the
augmentation of study 1's CNN. The datasets themselves are in ``synthset.datasets``."""
