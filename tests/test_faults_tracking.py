"""Faults of the store and the disk: a tracking server stopped mid-GAN, a full disk while writing,
a tracking URI that is wrong or refused (`bash scripts/test.sh -m faults`; fixtures in faults.py)."""

from __future__ import annotations

import resource
import subprocess
import time

import mlflow
import pytest

from faults import (CLASSES, KILL_AFTER, LONG_EPOCHS, STEPS_PER_EPOCH, assert_complete_history, base, epochs_checkpointed,  # noqa: F401 (fixtures)
                    gan_runs, long_gans, project, run_command, set_params, start, wait_until)

pytestmark = pytest.mark.faults


def test_tracking_server_stopped_mid_gan_fails_fast_naming_it_and_repro_resumes_without_gaps(project, team_services):
    root, env, dvc = project
    running, directory = team_services
    env["MLFLOW_TRACKING_URI"] = running.tracking_uri
    long_gans(root)
    client = mlflow.MlflowClient(running.tracking_uri)

    def logged_epochs() -> int:
        runs = gan_runs(running.tracking_uri)
        return min((len(client.get_metric_history(r.info.run_id, "g_loss")) // STEPS_PER_EPOCH
                    for r in runs.values()), default=0) if len(runs) == len(CLASSES) else 0

    repro = start(dvc + ["repro", "train_gan@mnist"], root, env)
    wait_until(lambda: logged_epochs() >= KILL_AFTER, repro, f"{KILL_AFTER} epochs on the server", every=0.5)
    from synthset import services

    services._stop_server(running.mlflow_pid)
    stopped = time.monotonic()
    output, _ = repro.communicate(timeout=120)
    failed_after = time.monotonic() - stopped
    assert repro.returncode != 0
    # Failing fast means no retries: MLflow's default (7 retries with back-off) takes minutes; with
    # retries off, the stage fails at its next logging call, seconds after the stop on an idle machine.
    assert failed_after < 60, f"took {failed_after:.0f} s to notice"
    assert f"MLflow tracking store {running.tracking_uri} failed during" in output, output[-3000:]
    assert "run `dvc repro` (or the same command) to resume" in output
    assert max(epochs_checkpointed(root, label) for label in CLASSES) < LONG_EPOCHS

    services.up(running, directory)
    log = run_command(dvc + ["repro", "train_gan@mnist"], root, env)
    assert "resuming class" in log
    assert_complete_history(root)
    for label, run in gan_runs(running.tracking_uri).items():  # the same run, every step exactly once
        assert run.info.status == "FINISHED"
        steps = sorted(m.step for m in client.get_metric_history(run.info.run_id, "g_loss"))
        assert steps == list(range(LONG_EPOCHS * STEPS_PER_EPOCH)), label


def _file_size_limit(limit: int):
    def apply():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


@pytest.mark.parametrize("what", ["archive", "checkpoint"])
def test_disk_full_while_writing_is_a_clear_error_and_leaves_nothing_half_written(project, team_services, what):
    """RLIMIT_FSIZE stands in for a full disk (the write fails the same way, EFBIG instead of
    ENOSPC); runs go to the server, so the only files the command writes are its outputs."""
    root, env, dvc = project
    env["MLFLOW_TRACKING_URI"] = team_services[0].tracking_uri
    if what == "archive":
        set_params(root, **{"scales.tiny.mnist.generate.images_per_class": 3000})
        command, output = ["synthset", "generate", "mnist"], root / "artifacts" / "mnist" / "synthetic"
        before = sorted(p.name for p in output.iterdir())
    else:  # the tiny GAN (two epochs): its first backup weights are over the limit
        command, output = ["synthset", "train-gan", "mnist", "0"], root / "artifacts" / ".resume" / "mnist" / "gan" / "0"
    result = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True,
                            preexec_fn=_file_size_limit(20_000))
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-2000:]
    assert "File too large while writing it; nothing half-written is left" in result.stderr, result.stderr[-2000:]
    assert not list(root.rglob("*.partial*")), "a partial file was left behind"
    if what == "archive":  # the previous complete set is untouched
        assert sorted(p.name for p in output.iterdir()) == before
        assert "Traceback" not in result.stderr
    else:  # whatever was checkpointed loads; the same command without the limit finishes
        run_command(command, root, env)
        assert (root / "artifacts" / "mnist" / "gan" / "0" / "history.csv").exists()


@pytest.mark.parametrize("uri, expected", [
    ("htp://127.0.0.1:5000", "unknown scheme 'htp'"),
    ("postgresql://intruder:secret@127.0.0.1:{port}/mlflow", 'role "intruder" does not exist'),
])
def test_a_bad_tracking_uri_is_named_before_any_work(project, team_services, uri, expected):
    root, env, dvc = project
    long_gans(root)
    env["MLFLOW_TRACKING_URI"] = uri.format(port=team_services[0].postgres_port)
    result = subprocess.run(dvc + ["repro", "train_gan@mnist"], cwd=root, env=env, capture_output=True, text=True)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert expected in output and uri.format(port=team_services[0].postgres_port).replace("secret", "***") in output, output
    assert "secret" not in output
    assert not list((root / "artifacts" / ".resume" / "mnist" / "gan").glob("*"))  # no training started
