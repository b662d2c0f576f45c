"""The datasets: one module per dataset behind one small interface, and the archive format they share.

A dataset module provides ``raw_data_problem(spec, folder, params_file)`` (what ``data/<name>``
lacks and how to get it, or None) and ``split(spec, seed, folder)`` (train / holdout / validation
arrays and a record of the split). Adding a dataset is a module here, its entry in ``registry.MODULES``, its
settings model in ``config`` and its blocks in ``params.yaml``.
"""
