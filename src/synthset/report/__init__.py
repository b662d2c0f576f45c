"""The report stage: ``reports/``, plotly dashboards of a pipeline run beside the papers' numbers."""
