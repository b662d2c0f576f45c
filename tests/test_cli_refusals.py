"""Bad input the ``synthset`` command refuses: each refusal's exact message and exit status, and
nothing written or changed by it.

The ``datasets`` commands run on a scratch project made in seconds: git, DVC and two one-line
``echo`` stages named as the pipeline's (``generate@mnist``, ``generate_test@mnist``), so that
``dvc.lock`` records the same synthetic-set outputs a real run does, without training anything.
The command runs in this process (``synthset.cli.main``), not in a subprocess.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import PROJECT, pipeline_environment, run_command

# Imported here, not first inside a test: DVC's import binds its log handlers (and colorama's
# wrappers) to the sys.stdout and sys.stderr of that moment, which under capsys are closed after the test.
from dvc.repo import Repo

from synthset.cli import main

IDENTITY = {"GIT_AUTHOR_NAME": "synthset tests", "GIT_AUTHOR_EMAIL": "tests@synthset.invalid",
            "GIT_COMMITTER_NAME": "synthset tests", "GIT_COMMITTER_EMAIL": "tests@synthset.invalid"}

DVC_YAML = """\
stages:
  generate:
    foreach: [mnist]
    do:
      cmd: mkdir -p artifacts/${item}/synthetic && echo ${images} > artifacts/${item}/synthetic/0.txt
      params: [images]
      outs:
        - artifacts/${item}/synthetic
  generate_test:
    foreach: [mnist]
    do:
      cmd: mkdir -p artifacts/${item}/synthetic_test && echo ${test_images} > artifacts/${item}/synthetic_test/0.txt
      params: [test_images]
      outs:
        - artifacts/${item}/synthetic_test
"""


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every file under ``root`` (git's objects and refs included) and its bytes, every directory
    (None); DVC's own scratch directory (locks, its updater's state) left out."""
    return {str(path.relative_to(root)): path.read_bytes() if path.is_file() else None
            for path in sorted(root.rglob("*")) if path.relative_to(root).parts[:2] != (".dvc", "tmp")}


@pytest.fixture
def cli(monkeypatch, capsys):
    """``synthset ARGS`` in this process, in directory ``cwd``: (exit status, stdout, stderr).
    The environment the command changes (XLA's cache flag) is put back after the test."""
    monkeypatch.delenv("SYNTHSET_WARM_SOCKET", raising=False)  # run here, not in a warm server's child
    for name in ("TF_XLA_FLAGS", "TF_CPP_MIN_LOG_LEVEL"):
        if name in os.environ:
            monkeypatch.setenv(name, os.environ[name])
        else:
            monkeypatch.delenv(name, raising=False)

    def run(cwd: Path, *args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        with monkeypatch.context() as scope:
            scope.chdir(cwd)
            code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture(scope="module")
def versions_template(tmp_path_factory) -> dict:
    """A project whose history has three tagged versions and one DVC experiment:
    ``synthetic-only`` (dvc.lock records mnist-synthetic), ``test-only`` (mnist-synthetic-test),
    ``both`` (HEAD, both sets) and experiment ``second-images`` of ``both`` (mnist-synthetic of
    other content); every version's bytes in the local DVC cache, the workspace clean at HEAD."""
    root = tmp_path_factory.mktemp("versions").resolve()
    env, dvc = pipeline_environment()
    env.update(IDENTITY)

    def sh(*command: str) -> str:
        return run_command(list(command), root, env)

    (root / "dvc.yaml").write_text(DVC_YAML)
    (root / "params.yaml").write_text("images: first\ntest_images: first\n")
    sh("git", "init", "-q")
    sh(*dvc, "init", "-q")
    sh("git", "add", "-A")
    sh("git", "commit", "-q", "-m", "pipeline")
    for tag, stages in (("synthetic-only", ["generate@mnist"]), ("test-only", ["generate_test@mnist"]), ("both", [])):
        (root / "dvc.lock").unlink(missing_ok=True)
        sh(*dvc, "repro", "-q", *stages)
        sh("git", "add", "-A")
        sh("git", "commit", "-q", "-m", tag)
        sh("git", "tag", tag)
    sh(*dvc, "exp", "run", "-q", "-S", "images=second", "-n", "second-images")
    sh("git", "checkout", "-q", "--", "params.yaml", "dvc.lock")  # exp run leaves its result in the workspace
    sh(*dvc, "checkout", "-q", "--force")
    assert sh("git", "status", "--porcelain") == ""
    [experiment_ref] = [ref for ref in sh("git", "for-each-ref", "--format=%(refname)", "refs/exps").split()
                        if not ref.startswith("refs/exps/exec/")]
    assert experiment_ref.endswith("/second-images")
    experiment = sh("git", "rev-parse", experiment_ref).strip()

    def md5(rev: str, stage: str) -> str:
        lock = yaml.safe_load(sh("git", "show", f"{rev}:dvc.lock"))
        return lock["stages"][stage]["outs"][0]["md5"]

    return {"root": root, "experiment": experiment, "head_md5": md5("both", "generate@mnist"),
            "experiment_md5": md5(experiment, "generate@mnist")}


@pytest.fixture
def versions_repo(versions_template, tmp_path) -> dict:
    """A copy of the template project for one test (a command that wrongly wrote into it would
    otherwise hide from the next test what that test's command writes), and an empty directory
    ``outside`` beside it for the command's --to."""
    root = (tmp_path / "project").resolve()
    shutil.copytree(versions_template["root"], root, symlinks=True, ignore=shutil.ignore_patterns("tmp"))
    (tmp_path / "outside").mkdir()
    return {**versions_template, "root": root, "outside": tmp_path / "outside"}


# -- train-gan ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("dataset", "label", "classes"), [
    ("mnist", "11", "2, 8, 9"),                            # no digit
    ("mnist", "5", "2, 8, 9"),                             # a digit, but not one this project trains
    ("fids30", "3", "0 (apples), 1 (grapes), 2 (raspberries)"),
], ids=["mnist-11", "mnist-5-not-selected", "fids30-3"])
def test_train_gan_refuses_a_class_the_dataset_does_not_have(tmp_path, monkeypatch, cli, dataset, label, classes):
    raw = yaml.safe_load((PROJECT / "params.yaml").read_text())
    raw["mnist"]["data"]["classes"] = [2, 8, 9]
    raw["fids30"]["data"]["classes"] = ["apples", "grapes", "raspberries"]
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    before = snapshot(tmp_path)

    code, out, err = cli(tmp_path, "train-gan", dataset, label)

    assert (code, out) == (2, "")
    assert err == (f"synthset: error: train-gan {dataset} {label}: no class {label} among {dataset}'s classes in "
                   f"params.yaml ({classes}); give one of them, or none to train every class\n")
    assert snapshot(tmp_path) == before  # no artifacts/, no resume state, no MLflow store


# -- datasets checkout ---------------------------------------------------------------------------

def test_checkout_refuses_a_revision_that_does_not_exist(versions_repo, cli):
    root, outside = versions_repo["root"], versions_repo["outside"]
    to = outside / "restored"
    before = snapshot(root)

    code, out, err = cli(root, "datasets", "checkout", "no-such-rev", "--to", str(to))

    assert (code, out) == (2, "")
    assert err == (f"synthset: error: 'no-such-rev' is no commit, tag, branch or DVC experiment of {root}; "
                   "`synthset datasets list` shows the revisions that recorded a dataset\n")
    assert not to.exists() and list(outside.iterdir()) == []
    assert snapshot(root) == before


@pytest.mark.parametrize("which", [["--dataset", "mnist"], []], ids=["one-set", "every-set"])
def test_checkout_refuses_a_directory_that_is_not_empty(versions_repo, cli, which):
    """One set would go into --to itself, every set into a folder of it: --to must be empty either way."""
    root, outside = versions_repo["root"], versions_repo["outside"]
    to = outside / "mine"
    to.mkdir()
    (to / "notes.txt").write_text("keep me")
    before = snapshot(root)

    code, out, err = cli(root, "datasets", "checkout", "both", *which, "--to", str(to))

    assert (code, out) == (2, "")
    assert err == (f"synthset: error: {to}: exists and is not an empty directory; choose a new directory for the "
                   "restored dataset\n")
    assert snapshot(outside) == {"mine": None, "mine/notes.txt": b"keep me"}  # nothing added beside or inside it
    assert snapshot(root) == before


def test_checkout_refuses_a_file_as_the_directory(versions_repo, cli):
    root, outside = versions_repo["root"], versions_repo["outside"]
    to = outside / "a-file"
    to.write_text("keep me")
    before = snapshot(root)

    code, out, err = cli(root, "datasets", "checkout", "both", "--dataset", "mnist", "--to", str(to))

    assert (code, out) == (2, "")
    assert err == (f"synthset: error: {to}: exists and is not an empty directory; choose a new directory for the "
                   "restored dataset\n")
    assert snapshot(outside) == {"a-file": b"keep me"}
    assert snapshot(root) == before


def test_checkout_of_an_experiment_by_name_restores_the_experiments_version(versions_repo, cli):
    """A DVC experiment is a revision by its name (no branch or tag has it): its own dvc.lock's
    version is restored, not its baseline's, and the project is left as it was."""
    root, outside = versions_repo["root"], versions_repo["outside"]
    to = outside / "restored"
    experiment, md5 = versions_repo["experiment"], versions_repo["experiment_md5"]
    assert md5 != versions_repo["head_md5"]
    assert subprocess.run(["git", "rev-parse", "--verify", "--quiet", "second-images"], cwd=root).returncode != 0
    before = snapshot(root)

    code, out, err = cli(root, "datasets", "checkout", "second-images", "--dataset", "mnist", "--to", str(to))

    assert (code, err) == (0, "")
    assert out == f"mnist-synthetic {md5} of second-images ({experiment[:7]}) -> {to}\n"
    assert snapshot(outside) == {"restored": None, "restored/0.txt": b"second\n"}
    assert snapshot(root) == before


# -- datasets compare ----------------------------------------------------------------------------

def test_compare_refuses_revisions_that_share_several_sets_without_dataset(versions_repo, cli):
    root = versions_repo["root"]
    before = snapshot(root)

    code, out, err = cli(root, "datasets", "compare", "both", "second-images")

    assert (code, out) == (2, "")
    assert err == ("synthset: error: name the dataset to compare with --dataset (both revisions have: "
                   "mnist-synthetic, mnist-synthetic-test)\n")
    assert snapshot(root) == before  # no reports/compare.html


def test_compare_refuses_revisions_that_share_no_set(versions_repo, cli):
    root = versions_repo["root"]
    before = snapshot(root)

    code, out, err = cli(root, "datasets", "compare", "synthetic-only", "test-only")

    assert (code, out) == (2, "")
    assert err == ("synthset: error: synthetic-only and test-only share no synthetic dataset to compare "
                   "(synthetic-only has: mnist-synthetic; test-only has: mnist-synthetic-test)\n")
    assert snapshot(root) == before


def test_compare_refuses_study_2s_test_set(versions_repo, cli):
    root = versions_repo["root"]
    before = snapshot(root)

    code, out, err = cli(root, "datasets", "compare", "both", "second-images", "--dataset", "mnist-synthetic-test")

    assert (code, out) == (2, "")
    assert err == ("synthset: error: mnist-synthetic-test: study 2's test set has no quality metrics to re-score; "
                   "compare mnist-synthetic, or read both revisions' metrics/study2.json\n")
    assert snapshot(root) == before


# -- outside a project ---------------------------------------------------------------------------

NOT_GIT = ("synthset: error: {root}: not a git repository (no .git/); dataset versions live in its history: "
           "run `synthset datasets` in the project root\n")
NOT_DVC = "synthset: error: {root}: not a DVC project (no .dvc/); run `synthset datasets` in the project root\n"
COMMANDS = {"list": ["list"], "checkout": ["checkout", "HEAD", "--to", "restored"],
            "compare": ["compare", "HEAD~1", "HEAD"]}


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize(("kind", "expected"), [("neither", NOT_GIT), ("dvc-without-git", NOT_GIT),
                                                ("git-without-dvc", NOT_DVC)], ids=["neither", "dvc-without-git",
                                                                                   "git-without-dvc"])
def test_datasets_commands_outside_a_git_and_dvc_project(tmp_path, cli, kind, expected, command):
    root = (tmp_path / "elsewhere").resolve()
    root.mkdir()
    if kind == "git-without-dvc":
        subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    if kind == "dvc-without-git":
        Repo.init(str(root), no_scm=True).close()
    before = snapshot(root)

    code, out, err = cli(root, "datasets", *COMMANDS[command])

    assert (code, out) == (2, "")
    assert err == expected.format(root=root)
    assert snapshot(root) == before  # no restored/, no reports/
