"""Everything synthset records in MLflow: the store (``store``), a stage's runs (``runs``), the
datasets each run read or made (``lineage``) and Optuna sweeps (``sweeps``)."""
