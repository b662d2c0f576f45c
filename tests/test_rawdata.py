"""The pipeline's first stage: a dataset that was never fetched stops everything, saying how to get it."""

import json
import subprocess

import pytest
import yaml

from conftest import copy_project, pipeline_environment, write_tiny_fids30, write_tiny_mnist
from synthset import config
from synthset.datasets import mnist
from synthset.stages import check_data
from synthset.errors import SynthsetError

FRUITS = ["apples", "limes"]


def _params(project, source=None, **changes):
    raw = yaml.safe_load((project / "params.yaml").read_text())
    raw.update(changes)
    raw["fids30"]["data"]["classes"] = FRUITS
    if source is not None:
        raw["fids30"]["data"]["source"] = str(source)
    return config.resolve(raw, "params.yaml")


def test_present_data_is_recorded(project):
    record = check_data.run(_params(project, datasets=["mnist"]))
    assert json.loads((project / "artifacts" / "raw_data.json").read_text()) == record
    assert record["datasets"] == {"mnist": sorted(mnist.FILES)}


def test_fids30_not_imported_names_the_command_and_the_source(project):
    source = write_tiny_fids30(project / "download", FRUITS)
    params = _params(project, source, datasets=["mnist", "fids30"])
    with pytest.raises(SynthsetError) as error:
        check_data.run(params)
    message = str(error.value)
    assert "nothing was run" in message and "apples, limes" in message
    assert "synthset fetch-images" in message and str(source) in message
    assert "mnist" not in message.split("nothing was run")[1].split("scripts/run.sh")[0]  # MNIST is there
    assert not (project / "artifacts" / "raw_data.json").exists()


def test_fids30_without_a_source_says_where_to_download_it_or_how_to_run_mnist_alone(project):
    params = _params(project, project / "nowhere", datasets=["fids30"])
    with pytest.raises(SynthsetError, match="vicos.si.*remove fids30 from `datasets`"):
        check_data.run(params)


def test_a_missing_mnist_file_is_named(project):
    (project / "data" / "mnist" / "test_labels.npy").unlink()
    with pytest.raises(SynthsetError, match=r"data/mnist/ lacks test_labels.npy: run `synthset fetch-mnist`"):
        check_data.run(_params(project, datasets=["mnist"]))


@pytest.mark.e2e
def test_dvc_repro_with_mnist_fetched_and_fids30_not_stops_before_any_work(tmp_path):
    """The default `datasets` lists FIDS30; without it `dvc repro` must not train MNIST first and
    then fail halfway with a missing-file error."""
    (tmp_path / "clone").mkdir()
    root = copy_project(tmp_path / "clone")
    env, dvc = pipeline_environment()
    write_tiny_mnist(root / "data" / "mnist")
    for command in (["git", "init", "-q"], [*dvc, "init", "-q"], [*dvc, "add", "-q", "data"]):
        subprocess.run(command, cwd=root, env=env, check=True)
    result = subprocess.run([*dvc, "repro"], cwd=root, env=env, capture_output=True, text=True)
    assert result.returncode != 0
    assert "raw data missing for 1 dataset(s)" in result.stderr and "fids30" in result.stderr
    assert "synthset fetch-images" in result.stderr
    assert not (root / "artifacts" / "mnist").exists()  # no prepare stage ran
