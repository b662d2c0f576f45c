"""The map and the code agree: every stage of dvc.yaml declares the modules its command imports, the
params places of the sections it reads, and outputs that synthset.paths produces; every dvc.yaml
and MLproject command parses with the CLI's own parser. See tests/contract.py for how each is read."""

from __future__ import annotations

import inspect
import shutil
import textwrap

import pytest
import yaml

from contract import (PROJECT, check_stage, command_modules, module_file, parse_command, pipeline_stages, plot_paths,
                      producible_paths, settings_read)
from synthset import config


@pytest.fixture(scope="module")
def stages():
    return list(pipeline_stages())


@pytest.fixture(scope="module")
def producible():
    return producible_paths()


def _problems(stages, producible, src=None) -> list[str]:
    project = config.load(PROJECT / "params.yaml")
    scale = config.selected_scale(PROJECT / "params.yaml")
    extra = {} if src is None else {"src": src}
    return [problem for name, cmd, deps, params, outs in stages
            for problem in check_stage(name, cmd, deps, params, outs, scale, project.datasets, producible,
                                       defined=list(project.data_specs), **extra).problems()]


def test_every_stage_declares_its_modules_params_and_outputs(stages, producible):
    assert len(stages) > 20  # every dataset's stages, expanded by DVC itself
    problems = _problems(stages, producible)
    assert not problems, "dvc.yaml disagrees with the code:\n" + "\n".join(problems)


def test_top_level_plots_draw_files_the_pipeline_writes(producible):
    plots = plot_paths(yaml.safe_load((PROJECT / "dvc.yaml").read_text()))
    assert plots and [path for path in plots if path not in producible] == []


def test_every_mlproject_command_parses_with_the_cli(stages):
    entry_points = yaml.safe_load((PROJECT / "MLproject").read_text())["entry_points"]
    for name, entry in entry_points.items():
        command = entry["command"]
        if not command.startswith("synthset"):
            continue
        defaults = {key: spec["default"] for key, spec in entry.get("parameters", {}).items()}
        parse_command(command.format(**defaults))
    cli_commands = {parse_command(cmd).command for _, cmd, *_ in stages}
    mlproject_commands = {entry["command"].split()[1] for entry in entry_points.values()
                          if entry["command"].startswith("synthset")}
    assert cli_commands <= mlproject_commands, "every pipeline stage is an MLproject entry point"


def test_a_package_removed_from_a_stages_deps_is_caught(stages, producible):
    name, cmd, deps, params, outs = next(stage for stage in stages if stage[0].endswith("train_gan@mnist"))
    assert "src/synthset/training" in deps
    crippled = [(name, cmd, [d for d in deps if d != "src/synthset/training"], params, outs)]
    [problem] = _problems(crippled, producible)
    assert problem.startswith(f"{name}: deps lack ") and "src/synthset/training/gan.py" in problem


@pytest.mark.parametrize("planted", ["src/synthset/tracking/runs.py", "src/synthset/cli.py"])
def test_a_dependency_that_cannot_change_the_outputs_is_caught(stages, producible, planted):
    """Declared, a log call in tracking/runs.py or a help text would re-run the stage for nothing."""
    name, cmd, deps, params, outs = next(stage for stage in stages if stage[0].endswith("prepare@mnist"))
    planted_stage = [(name, cmd, [*deps, planted], params, outs)]
    assert _problems(planted_stage, producible) == [f"{name}: deps name code that cannot change its outputs: {planted}"]


def test_a_params_place_removed_from_a_stage_is_caught(stages, producible):
    name, cmd, deps, params, outs = next(stage for stage in stages if stage[0].endswith("train_gan@fids30"))
    crippled = [(name, cmd, deps, [p for p in params if p != "fids30.gan"], outs)]
    assert _problems(crippled, producible) == [f"{name}: params lack fids30.gan"]


def test_a_stage_reading_every_dataset_declares_the_whole_file(stages, producible):
    """check_data reads each dataset's data settings, which no fixed list of keys can name once
    users add datasets: it declares params.yaml whole, and a list without a new dataset is caught."""
    name, cmd, deps, params, outs = next(stage for stage in stages if stage[0].endswith("check_data"))
    assert params == ["*"]
    listed = [(name, cmd, deps, ["datasets", "mnist.data", "scales.default.mnist.data"], outs)]
    assert _problems(listed, producible) == [f"{name}: params lack fids30.data, scales.default.fids30.data"]


def test_a_path_renamed_in_paths_only_is_caught(stages, monkeypatch):
    from synthset import paths

    original = paths.epoch_choice
    monkeypatch.setattr(paths, "epoch_choice", lambda dataset: original(dataset).with_name("chosen_epochs.json"))
    problems = _problems([s for s in stages if "select_epochs@" in s[0]], producible_paths())
    assert problems and all("metrics/" in p and "epoch_choice.json" in p for p in problems)


def test_a_new_import_in_library_code_reaches_the_stages_that_import_it(tmp_path):
    """The closure follows imports through the library: a metric module newly imported by the
    selection library becomes a dependency of select_epochs, not of train_gan."""
    src = tmp_path / "src"
    shutil.copytree(PROJECT / "src" / "synthset", src / "synthset", ignore=shutil.ignore_patterns("__pycache__"))
    (src / "synthset" / "quality" / "novelty.py").write_text("SCORE = 1\n")
    selection = src / "synthset" / "quality" / "selection.py"
    selection.write_text(selection.read_text() + "\nfrom synthset.quality import novelty  # noqa: E402,F401\n")
    assert "synthset.quality.novelty" in command_modules("synthset select-epochs mnist", src)
    assert "synthset.quality.novelty" not in command_modules("synthset train-gan mnist", src)


def test_settings_read_follow_the_code(tmp_path):
    """A stage that starts reading a section must declare it: the reads come from the code."""
    src = tmp_path / "src"
    shutil.copytree(PROJECT / "src" / "synthset", src / "synthset", ignore=shutil.ignore_patterns("__pycache__"))
    cmd = "synthset train-features mnist"
    before = settings_read(command_modules(cmd, src), cmd, src)
    assert {"features", "data", "seed"} <= before and "quality" not in before
    stage = src / "synthset" / "stages" / "train_features.py"
    stage.write_text(stage.read_text() + textwrap.dedent('''
        def _threshold(params):
            return params.quality.near_copy_quantile
        '''))
    assert "quality" in settings_read(command_modules(cmd, src), cmd, src)


def test_every_dvc_command_is_a_synthset_command(stages):
    for name, cmd, *_ in stages:
        assert module_file("synthset.cli") and parse_command(cmd).run, name


def test_stage_names_in_dvc_yaml_are_the_names_the_code_uses(stages):
    """MLflow tags and the report find runs by the constants of synthset.stages: they must be the
    stage names of dvc.yaml, each used."""
    from synthset import stages as names
    from synthset.config import SOURCES

    constants = {value for key, value in vars(names).items() if key.isupper() and isinstance(value, str)}
    in_code = constants | {names.classifier_stage(source) for source in SOURCES}
    in_dvc_yaml = {name.split(":")[-1].split("@")[0] for name, *_ in stages}
    assert in_dvc_yaml == in_code


def test_each_stage_is_the_command_and_the_module_of_its_name(stages):
    """One name per thing: stage ``train_gan`` runs ``synthset train-gan``, whose handler runs
    ``synthset.stages.train_gan``."""
    for name, cmd, *_ in stages:
        stage = name.split(":")[-1].split("@")[0]
        command = cmd.split()[1]
        assert command == stage.replace("_", "-"), f"{name}: command {command!r}"
        handler = inspect.getsource(parse_command(cmd).run)
        assert f"from synthset.stages import {stage} as stage" in handler, f"{name}: handler {handler.splitlines()[0]}"


def test_every_allowlisted_module_is_imported_by_some_stage(stages):
    """An entry no stage's command imports would excuse nothing: the allowlist stays what it is for."""
    from contract import CANNOT_CHANGE_OUTPUTS, cannot_change_outputs

    imported = set().union(*(command_modules(cmd) for _, cmd, *_ in stages))
    unused = [entry for entry in CANNOT_CHANGE_OUTPUTS
              if not any(cannot_change_outputs(module) and (module == entry.removesuffix(".*")
                                                            or module.startswith(entry.removesuffix("*")))
                         for module in imported)]
    assert unused == []
