"""Stage ``train_study2``: every model of study 2 (the poster's classifiers, its two semi-supervised
discriminators, the complete semi-supervised GAN per number of labels), each a task of the worker
processes (synthset.parallel), so that nine small trainings share two processes' start-up and both
cores instead of paying nine stages' start-up one after the other."""

from __future__ import annotations

from synthset import parallel, paths
from synthset.config import SEMI_VARIANTS, Params

CLASSIFIER, SEMI, SSL_GAN = "classifier", "semi", "ssl_gan"


def models(params: Params) -> list[tuple[str, str | int, str]]:
    """(kind, what, output name) of every model, the longest trainings first so that the two
    workers finish together."""
    ssl = [(SSL_GAN, labels, paths.ssl_gan_name(labels)) for labels in sorted(params.study2.ssl.labels, reverse=True)]
    classifiers = [(CLASSIFIER, model, model) for model in reversed(params.study2.models)]
    semi = [(SEMI, variant, paths.semi_name(variant)) for variant in reversed(SEMI_VARIANTS)]
    return ssl + classifiers[:1] + semi + classifiers[1:]


def run(params: Params, dataset: str, only: list[str] | None = None) -> dict[str, dict]:
    """Train every model (or those whose output name is in ``only``); their summaries by name."""
    chosen = [model for model in models(params) if only is None or model[2] in only]
    summaries = parallel.run_tasks(train_model, [(params, dataset, kind, what) for kind, what, _ in chosen])
    return {name: summary for (_, _, name), summary in zip(chosen, summaries, strict=True)}


def train_model(params: Params, dataset: str, kind: str, what: str | int) -> dict:
    """One model, in a worker: its task module is imported here, since it imports TensorFlow."""
    if kind == CLASSIFIER:
        from synthset.tasks.study2_classifier import run as train
    elif kind == SEMI:
        from synthset.tasks.semi_supervised import run as train
    else:
        from synthset.tasks.ssl_gan import run as train
    return train(params, dataset, what)
