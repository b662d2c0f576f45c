"""A study's best trial back into the pipeline: as ``dvc exp run -S`` overrides, or written into
``params.yaml`` where each value decides for the study's dataset and scale."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from synthset import config
from synthset.errors import SynthsetError, without_password
from synthset.io import write_atomically
from synthset.tracking.runs import flatten
from synthset.tuning import space, storage


def load(study_name: str, url: str) -> optuna.Study:
    """An existing study, read only; the error lists the studies the storage holds."""
    if storage.is_journal(url) and not Path(url).exists():
        raise SynthsetError(f"no study storage at {url}: run `synthset sweep DATASET --study {study_name} ...` first")
    store = storage.open_storage(url, sweep=None, workers=1)
    try:
        return optuna.load_study(study_name=study_name, storage=store)
    except KeyError:
        names = [s.study_name for s in optuna.get_all_study_summaries(store, include_best_trial=False)]
        raise SynthsetError(f"no study {study_name!r} in {without_password(url)}; it holds {names or 'none'}") from None


def chosen_trial(study: optuna.Study, number: int | None) -> optuna.trial.FrozenTrial:
    """``number``, or the best trial; a multi-objective study asks which of its Pareto front."""
    if number is not None:
        trials = [t for t in study.get_trials(deepcopy=False) if t.number == number]
        if not trials or trials[0].state != TrialState.COMPLETE:
            raise SynthsetError(f"study {study.study_name!r} has no complete trial {number}")
        return trials[0]
    if len(study.directions) > 1:
        front = "; ".join(f"trial {t.number}: {[round(v, 4) for v in t.values]}" for t in study.best_trials)
        raise SynthsetError(f"study {study.study_name!r} has two objectives; choose one trial of its Pareto front "
                            f"with --trial N ({front or 'no complete trial yet'})")
    try:
        return study.best_trial
    except ValueError:
        raise SynthsetError(f"study {study.study_name!r} has no complete trial yet") from None


def overrides(study: optuna.Study, trial: optuna.trial.FrozenTrial, params_file: Path) -> dict[str, Any]:
    """``params.yaml`` key -> value for every GAN setting the trial changes, at the place where it
    decides for the study's dataset and scale (the epochs that give the trial's step budget included)."""
    recorded = study.user_attrs.get("settings")
    if recorded is None:
        raise SynthsetError(f"study {study.study_name!r} was not made by `synthset sweep`: it records no settings")
    dataset, scale = recorded["dataset"], study.user_attrs["scale"]
    raw = config.read(params_file)
    current = config.resolve(raw, str(params_file), scale=scale, dataset=dataset)
    tuned = space.settings_for(current.gan, trial.params, recorded["steps"], recorded["train_images"])
    before, after = flatten(current.gan.model_dump(), "gan."), flatten(tuned.model_dump(), "gan.")
    places = config.setting_places(raw, dataset, scale, str(params_file))
    return {places[key]: after[key] for key in after if after[key] != before[key]}


def _shared(place: str) -> bool:
    """A place of a shared section (``gan.adam.beta_2``), not a dataset's or a scale's."""
    return place.split(".")[0] in config.SECTIONS


def show(study_name: str, url: str, params_file: Path, number: int | None = None, apply: bool = False) -> str:
    study = load(study_name, url)
    trial = chosen_trial(study, number)
    changes = overrides(study, trial, params_file)
    recorded = study.user_attrs["settings"]
    names = [recorded["metric"], "seconds per step"]
    values = ", ".join(f"{name} {v:.4g}" for name, v in zip(names, trial.values))
    lines = [f"study {study_name!r}, trial {trial.number}: {values} over classes "
             f"{recorded['classes']} at {recorded['steps']} steps ({study.user_attrs['scale']} scale)"]
    baseline = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if t.user_attrs.get("baseline")]
    if baseline:
        lines.append(f"the settings of params.yaml (trial {baseline[0].number}): "
                     + ", ".join(f"{name} {v:.4g}" for name, v in zip(names, baseline[0].values)))
    if not changes:
        return "\n".join(lines + ["params.yaml already has these settings: nothing to change"])
    shared = [place for place in changes if _shared(place)]
    lines.append("dvc exp run " + " ".join(f"-S '{place}={_yaml(value)}'" for place, value in changes.items()))
    if shared:
        lines.append(f"note: {', '.join(shared)} are shared by every dataset; move them to "
                     f"{recorded['dataset']}.gan to change {recorded['dataset']} alone")
    if apply:
        if shared:
            raise SynthsetError(f"--apply would change every dataset's {', '.join(shared)}; move these settings "
                                f"to {recorded['dataset']}.gan in {params_file} first")
        write(params_file, changes)
        lines.append(f"written into {params_file} ({len(changes)} settings): `dvc params diff` shows them, "
                     "`dvc repro` trains with them")
    return "\n".join(lines)


def _yaml(value: Any) -> str:
    return "[" + ", ".join(map(str, value)) + "]" if isinstance(value, list) else str(value)


def write(params_file: Path, changes: dict[str, Any]) -> None:
    """Set each dotted key in ``params_file``, keeping its comments and layout; validated before it lands."""
    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedSeq

    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 120
    yaml.representer.add_representer(type(None), lambda r, _: r.represent_scalar("tag:yaml.org,2002:null", "null"))
    document = yaml.load(Path(params_file).read_text())
    for place, value in changes.items():
        node, *parents = document, *place.split(".")[:-1]
        for part in parents:
            node = node[part]
        if isinstance(value, list):
            value = CommentedSeq(value)
            value.fa.set_flow_style()
        node[place.split(".")[-1]] = value
    text = io.StringIO()
    yaml.dump(document, text)
    import yaml as pyyaml

    config.resolve(pyyaml.safe_load(text.getvalue()), str(params_file))  # refuse to write what would not load
    with write_atomically(Path(params_file)) as partial:
        partial.write_text(text.getvalue())
