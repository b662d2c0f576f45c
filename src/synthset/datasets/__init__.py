"""The kinds of dataset behind one small interface: ``mnist`` and ``image_folder``.

A kind's module provides ``raw_data_problem(spec, folder, params_file, dataset)`` (what
``data/<dataset>`` lacks and how to get it, or None) and ``split(spec, seed, folder, dataset)``
(train / holdout / validation arrays and a record of the split). ``registry`` serves them by the
``kind`` of a dataset's data settings, so a new dataset is a block of ``params.yaml``, not code.
"""
