"""The datasets: one module per dataset behind one small interface.

A dataset module provides ``raw_data_problem(spec, folder, params_file)`` (what ``data/<name>``
lacks and how to get it, or None) and ``split(spec, seed, folder)`` (train / holdout / validation
arrays and a record of the split). ``registry`` serves them by name, so that a stage run for one
dataset reads (and, in ``dvc.yaml``, depends on) that dataset's module only.
"""
