"""Which stages a FIDS30 setting re-runs: DVC's own params comparison on a scratch copy, no training."""

from __future__ import annotations

import pytest
import yaml

from conftest import PROJECT

FIDS30_CLASSIFIER_STAGES = {"train_cnn_on_real@fids30", "train_cnn_on_synthetic@fids30"}


def _changed_by(project_dir, edit) -> set[str]:
    """The stages whose declared params DVC finds modified after ``edit(raw params)``: every stage's
    params dependency records the current values (as ``dvc.lock`` would), params.yaml is edited, and
    each dependency's ``workspace_status`` (what ``dvc status`` reports) is read."""
    from dvc.repo import Repo

    params_file = project_dir / "params.yaml"
    original = params_file.read_text()
    with Repo(str(project_dir)) as repo:
        stages = [stage for stage in repo.index.stages if getattr(stage, "cmd", None)]
        params_deps = {stage.name: [d for d in stage.deps if type(d).__name__ == "ParamsDependency"]
                       for stage in stages}
        for deps in params_deps.values():
            for dep in deps:
                dep.save()
        assert not {name for name, deps in params_deps.items() if any(d.workspace_status() for d in deps)}
        raw = yaml.safe_load(original)
        edit(raw)
        params_file.write_text(yaml.safe_dump(raw, sort_keys=False))
        try:
            return {name for name, deps in params_deps.items() if any(d.workspace_status() for d in deps)}
        finally:
            params_file.write_text(original)


@pytest.fixture(scope="module")
def dvc_project(tmp_path_factory):
    from conftest import copy_project
    from dvc.repo import Repo

    root = copy_project(tmp_path_factory.mktemp("granularity"))
    Repo.init(str(root), no_scm=True)
    return root


def test_fids30_cnn_epochs_rerun_only_fids30_cnns_not_its_gan(dvc_project):
    scale = yaml.safe_load((dvc_project / "params.yaml").read_text())["scale"]

    def more_cnn_epochs(raw):
        raw["scales"][scale]["fids30"]["classifier"]["epochs"] += 1

    changed = _changed_by(dvc_project, more_cnn_epochs)

    assert "train_gan@fids30" not in changed
    assert FIDS30_CLASSIFIER_STAGES <= changed
    assert not {name for name in changed if name.endswith("@mnist") or "@mnist-" in name}
    assert not changed & {f"{stage}@fids30" for stage in ("prepare", "train_features", "select_epochs", "generate",
                                                          "assess")}


def test_fids30_gan_epochs_rerun_its_gan_not_its_cnns(dvc_project):
    """The counterpart, which shows the comparison above sees a change where one is declared."""
    scale = yaml.safe_load((dvc_project / "params.yaml").read_text())["scale"]

    def more_gan_epochs(raw):
        raw["scales"][scale]["fids30"]["gan"]["epochs"] += 1

    changed = _changed_by(dvc_project, more_gan_epochs)

    assert {"train_gan@fids30", "select_epochs@fids30", "generate@fids30"} <= changed
    assert not changed & FIDS30_CLASSIFIER_STAGES and "train_gan@mnist" not in changed


def test_declared_params_of_fids30_gan_do_not_cover_its_cnn_settings():
    """The same from the resolved dvc.yaml alone (no scratch copy): the key a user changes with
    `dvc exp run -S scales.<scale>.fids30.classifier.epochs=...` is under train_cnn_on_real@fids30's
    params and under none of train_gan@fids30's."""
    from contract import key_covered, pipeline_stages

    scale = yaml.safe_load((PROJECT / "params.yaml").read_text())["scale"]
    key = f"scales.{scale}.fids30.classifier.epochs"
    params = {name.split(":")[-1]: declared for name, _, _, declared, _ in pipeline_stages()}
    assert not key_covered(key, params["train_gan@fids30"]), params["train_gan@fids30"]
    assert key_covered(key, params["train_cnn_on_real@fids30"])
    assert key_covered(f"scales.{scale}.fids30.gan.epochs", params["train_gan@fids30"])

