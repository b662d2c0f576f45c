"""Versions of the synthetic datasets: list them across git history and DVC experiments, restore
one from the DVC cache or remote, compare two (``synthset datasets ...``)."""
