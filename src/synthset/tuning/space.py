"""The search space of ``params.yaml``'s ``sweep.space`` as Optuna suggestions, and a trial's
values as the GAN settings the library trainer takes."""

from __future__ import annotations

import math
from typing import Any

from pydantic import ValidationError

from synthset.config import GanParams, SweepSpace


class SettingsRefused(Exception):
    """The trial's values make GAN settings that validation or the models refuse: a failed trial, not a crash."""


def widths_name(widths: list[int]) -> str:
    """A list of layer widths as one categorical choice: [64, 32, 16] -> "64-32-16"."""
    return "-".join(str(width) for width in widths)


def widths_of(name: str) -> list[int]:
    return [int(width) for width in name.split("-")]


def suggest(trial, space: SweepSpace) -> dict[str, Any]:
    """Draw one trial's values. Adam's beta_1 exists only in trials that choose Adam."""
    values: dict[str, Any] = {"optimizer": trial.suggest_categorical("optimizer", space.optimizer)}
    for name in ("discriminator_learning_rate", "generator_learning_rate"):
        values[name] = trial.suggest_float(name, *getattr(space, name), log=True)
    if values["optimizer"] == "adam":
        values["adam_beta_1"] = trial.suggest_float("adam_beta_1", *space.adam_beta_1)
    for name in ("generator_dropout", "discriminator_dropout"):
        values[name] = trial.suggest_float(name, *getattr(space, name))
    values["batch_size"] = trial.suggest_categorical("batch_size", space.batch_size)
    for name in ("generator_widths", "discriminator_widths"):
        values[name] = trial.suggest_categorical(name, [widths_name(w) for w in getattr(space, name)])
    if space.shared_epochs is not None:
        values["shared_epochs"] = trial.suggest_int("shared_epochs", *space.shared_epochs)
    return values


def defaults(gan: GanParams, space: SweepSpace) -> dict[str, Any]:
    """The values of ``suggest`` that reproduce ``gan``: trial 0 of every study, the baseline."""
    rates = getattr(gan, gan.optimizer)
    values = {"optimizer": gan.optimizer, "discriminator_learning_rate": rates.discriminator.learning_rate,
              "generator_learning_rate": rates.generator.learning_rate}
    if gan.optimizer == "adam":
        values["adam_beta_1"] = gan.adam.beta_1
    values.update(generator_dropout=gan.generator.dropout, discriminator_dropout=gan.discriminator.dropout,
                  batch_size=gan.batch_size,
                  generator_widths=widths_name([gan.generator.base_filters, *gan.generator.filters]),
                  discriminator_widths=widths_name(gan.discriminator.filters))
    if space.shared_epochs is not None:
        values["shared_epochs"] = gan.shared_epochs
    return values


def settings_for(base: GanParams, values: dict[str, Any], steps: int, train_images: int) -> GanParams:
    """``base`` with the trial's values, and as many epochs as ``steps`` needs at the trial's batch
    size, so that the pipeline trains the same number of steps when the trial is applied."""
    from synthset.training.gan import steps_per_epoch  # here: sweep-best needs no TensorFlow

    settings = base.model_dump()
    optimizer = values["optimizer"]
    settings["optimizer"] = optimizer
    settings[optimizer]["discriminator"]["learning_rate"] = values["discriminator_learning_rate"]
    settings[optimizer]["generator"]["learning_rate"] = values["generator_learning_rate"]
    if "adam_beta_1" in values:
        settings["adam"]["beta_1"] = values["adam_beta_1"]
    settings["generator"]["dropout"] = values["generator_dropout"]
    settings["discriminator"]["dropout"] = values["discriminator_dropout"]
    settings["batch_size"] = values["batch_size"]
    settings["generator"]["base_filters"], *settings["generator"]["filters"] = widths_of(values["generator_widths"])
    settings["discriminator"]["filters"] = widths_of(values["discriminator_widths"])
    if "shared_epochs" in values:
        settings["shared_epochs"] = values["shared_epochs"]
    settings["epochs"] = math.ceil(steps / steps_per_epoch(train_images, values["batch_size"]))
    try:
        return GanParams.model_validate(settings)
    except ValidationError as error:
        reasons = "; ".join(f"gan.{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        raise SettingsRefused(reasons) from None


def check_buildable(settings: GanParams, image_shape: tuple[int, int, int]) -> None:
    """Build both networks once: a shape the models refuse fails the trial before any training."""
    from synthset.training.gan import build_networks

    try:
        build_networks(settings, image_shape)
    except ValueError as error:
        raise SettingsRefused(str(error)) from None
