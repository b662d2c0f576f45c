"""Network builders and the GAN model."""
