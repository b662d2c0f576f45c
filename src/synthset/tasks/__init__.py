"""What a stage hands its worker processes (``synthset.parallel``): one model each, trained by the
library, with its files and its MLflow run. Stages call these; they are not stages themselves."""
