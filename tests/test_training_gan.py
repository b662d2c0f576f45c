"""The library GAN trainer: in process, with a step budget, reproducible, and free of paths and MLflow."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from conftest import PROJECT, draw_digits
from synthset.training.gan import steps_per_epoch, train_gan


def _digits(label: int, count: int = 40) -> np.ndarray:
    images, labels = draw_digits(count, seed=0)
    return images[labels == label][..., None]


def test_same_seed_same_weights_other_seed_other_weights(tiny_params):
    images = _digits(3)
    first = train_gan(tiny_params.gan, images, seed=7, steps=5)
    second = train_gan(tiny_params.gan, images, seed=7, steps=5)
    other = train_gan(tiny_params.gan, images, seed=8, steps=5)
    for a, b in zip(first.model.get_weights(), second.model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert first.history.equals(second.history)
    assert any(not np.array_equal(a, c) for a, c in zip(first.generator.get_weights(), other.generator.get_weights()))


def test_step_budget_stops_mid_epoch(tiny_params):
    images = _digits(5)  # 40 images in batches of 16: 2 steps per epoch
    assert steps_per_epoch(len(images), tiny_params.gan.batch_size) == 2
    trained = train_gan(tiny_params.gan, images, seed=1, steps=5)
    assert trained.history["step"].tolist() == [0, 1, 2, 3, 4]
    assert trained.history["epoch"].tolist() == [0, 0, 1, 1, 2]
    assert trained.steps_per_epoch == 2
    full = train_gan(tiny_params.gan, images, seed=1)  # no budget: gan.epochs (2) epochs
    assert len(full.history) == tiny_params.gan.epochs * 2
    np.testing.assert_array_equal(full.history[["d_loss", "g_loss"]].to_numpy(),
                                  trained.history[["d_loss", "g_loss"]].to_numpy()[:4])


def test_extra_callbacks_see_every_step(tiny_params):
    import keras

    seen = []

    class Count(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append(float(logs["g_loss"]))

    trained = train_gan(tiny_params.gan, _digits(1), seed=3, steps=3, callbacks=[Count()])
    assert seen == pytest.approx(trained.history["g_loss"].tolist())


def test_trainer_writes_no_file_and_never_imports_mlflow(tmp_path):
    """Run in a fresh interpreter in an empty directory: nothing may appear there (no artifacts/,
    no mlflow.db), and the trainer must not so much as import MLflow."""
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(PROJECT / 'tests')!r})
        import yaml
        from conftest import draw_digits
        from synthset import config
        from synthset.training.gan import train_gan
        raw = yaml.safe_load(open({str(PROJECT / 'params.yaml')!r}))
        params = config.resolve(raw, scale="tiny", dataset="mnist")
        images, labels = draw_digits(20, seed=0)
        trained = train_gan(params.gan, images[labels == 2][..., None], seed=0, steps=2)
        assert len(trained.history) == 2
        assert "mlflow" not in sys.modules, "the library trainer imported MLflow"
        print("ok")
    """)
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("ok")
    assert list(tmp_path.iterdir()) == []
