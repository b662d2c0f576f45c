"""The sweep's search space, settings and bookkeeping, without training."""

from __future__ import annotations

import math
import time

import optuna
import pytest
from optuna.trial import TrialState

from synthset import config
from synthset.errors import SynthsetError
from synthset.tuning import objective, runner, space, storage


@pytest.fixture
def mnist(params_raw):
    return config.resolve(params_raw, scale="default", dataset="mnist")


@pytest.fixture
def adam_gan(mnist):
    """The default scale's MNIST GAN with Adam at batch 32 for 6 epochs, whatever params.yaml holds now."""
    return mnist.gan.model_copy(update={"optimizer": "adam", "batch_size": 32, "epochs": 6})


def test_the_baseline_values_give_back_the_current_settings(adam_gan, mnist):
    values = space.defaults(adam_gan, mnist.sweep.space)
    assert values["batch_size"] == 32 and values["adam_beta_1"] == adam_gan.adam.beta_1
    assert values["generator_widths"] == "-".join(map(str, [adam_gan.generator.base_filters, *adam_gan.generator.filters]))
    assert space.settings_for(adam_gan, values, steps=372, train_images=2000) == adam_gan  # 6 epochs of 62 steps


def test_the_step_budget_sets_the_epochs_at_the_trials_batch_size(adam_gan, mnist):
    values = {**space.defaults(adam_gan, mnist.sweep.space), "batch_size": 64, "optimizer": "rmsprop"}
    values.pop("adam_beta_1")
    settings = space.settings_for(adam_gan, values, steps=372, train_images=2000)
    assert settings.epochs == 12 and settings.batch_size == 64  # 31 steps per epoch
    assert settings.optimizer == "rmsprop"
    assert settings.rmsprop.generator.learning_rate == values["generator_learning_rate"]
    assert settings.adam == adam_gan.adam  # untouched: the trial chose RMSprop


def test_a_combination_the_models_refuse_is_a_refusal_not_a_crash(mnist):
    values = {**space.defaults(mnist.gan, mnist.sweep.space), "discriminator_widths": "16-32-64"}  # 3 layers, 2 strides
    with pytest.raises(space.SettingsRefused, match="gan.discriminator: .*filters has 3 layers but strides has 2"):
        space.settings_for(mnist.gan, values, steps=10, train_images=100)
    values = {**space.defaults(mnist.gan, mnist.sweep.space), "generator_widths": "64-32-16-8"}  # 56x56 images
    settings = space.settings_for(mnist.gan, values, steps=10, train_images=100)
    with pytest.raises(space.SettingsRefused, match=r"3 up-sampling\(s\) \(filters \[32, 16, 8\]\) cannot make 28x28"):
        space.check_buildable(settings, (28, 28, 1))


def test_suggest_draws_inside_the_space_and_beta_1_only_for_adam(mnist):
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(20):
        trial = study.ask()
        values = space.suggest(trial, mnist.sweep.space)
        assert ("adam_beta_1" in values) == (values["optimizer"] == "adam")
        low, high = mnist.sweep.space.generator_learning_rate
        assert low <= values["generator_learning_rate"] <= high
        assert values["batch_size"] in mnist.sweep.space.batch_size
        study.tell(trial, 0.0)
    assert {t.params["optimizer"] for t in study.trials} == {"adam", "rmsprop"}


def test_shared_epochs_is_drawn_kept_and_set_only_when_the_space_has_a_range(mnist):
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    assert mnist.sweep.space.shared_epochs is None
    assert "shared_epochs" not in space.suggest(study.ask(), mnist.sweep.space)
    assert "shared_epochs" not in space.defaults(mnist.gan, mnist.sweep.space)
    ranged = mnist.sweep.space.model_copy(update={"shared_epochs": (3, 9)})
    drawn = [space.suggest(study.ask(), ranged)["shared_epochs"] for _ in range(10)]
    assert all(3 <= value <= 9 for value in drawn) and len(set(drawn)) > 1
    baseline = space.defaults(mnist.gan, ranged)
    assert baseline["shared_epochs"] == mnist.gan.shared_epochs
    settings = space.settings_for(mnist.gan, {**baseline, "shared_epochs": 7}, steps=372, train_images=2000)
    assert settings.shared_epochs == 7


def test_sweep_settings_are_validated_naming_the_place(params_raw):
    params_raw["sweep"]["space"]["generator_dropout"] = [0.5, 0.1]
    with pytest.raises(SynthsetError, match="generator_dropout range .* lower bound above its upper bound"):
        config.resolve(params_raw, dataset="mnist")
    params_raw["sweep"]["space"]["generator_dropout"] = [0.0, 0.5]
    params_raw["mnist"]["sweep"]["classes"] = [2, 8]
    params_raw["mnist"]["data"]["classes"] = [0, 1, 2]
    params = config.resolve(params_raw, dataset="mnist")  # the pipeline runs on three classes ...
    with pytest.raises(SynthsetError, match=r"mnist.sweep.classes: \[8\] not among mnist.data.classes"):
        params.sweep_labels  # ... a sweep of classes it does not have is refused


def test_pruning_is_off_with_two_objectives(params_raw):
    params_raw["sweep"]["objectives"] = "quality_and_speed"
    params = config.resolve(params_raw, dataset="mnist")
    assert isinstance(runner.pruner_of(params), optuna.pruners.NopPruner)
    assert runner.directions(params) == ["minimize", "minimize"]
    params_raw["sweep"]["objectives"] = "quality"
    params_raw["sweep"]["pruner"] = {"kind": "wilcoxon", "p_threshold": 0.1, "startup_classes": 1}
    assert isinstance(runner.pruner_of(config.resolve(params_raw, dataset="mnist")), optuna.pruners.WilcoxonPruner)


def test_storages_that_would_lose_trials_are_refused(mnist):
    with pytest.raises(SynthsetError, match="SQLite is not safe for 2 parallel workers"):
        storage.open_storage("sqlite:///x.db", mnist.sweep, workers=2)
    with pytest.raises(SynthsetError, match="unsupported scheme 'mysql'") as refused:
        storage.open_storage("mysql://me:secret@host/db", mnist.sweep, workers=1)
    assert "mysql://me:***@host/db" in str(refused.value) and "secret" not in str(refused.value)


def test_only_the_trials_own_failures_use_up_the_budget():
    def trial(state, **attrs):
        return optuna.trial.create_trial(state=state, user_attrs=attrs) if state != TrialState.COMPLETE else \
            optuna.trial.create_trial(state=state, value=1.0, user_attrs=attrs)

    assert storage.counts_toward_total(trial(TrialState.COMPLETE))
    assert storage.counts_toward_total(trial(TrialState.PRUNED))
    assert storage.counts_toward_total(trial(TrialState.FAIL, failure="settings: gan.batch_size"))
    assert not storage.counts_toward_total(trial(TrialState.FAIL, failure="interrupted"))
    assert not storage.counts_toward_total(trial(TrialState.FAIL))  # lost with its worker
    assert not storage.counts_toward_total(trial(TrialState.WAITING))


def test_a_lost_trial_is_queued_again_at_most_retries_times():
    study = optuna.create_study()
    study.add_trial(optuna.trial.create_trial(state=TrialState.FAIL, params={"x": 1.0},
                                              distributions={"x": optuna.distributions.FloatDistribution(0, 2)},
                                              user_attrs={"baseline": "params.yaml", "fid_class_2": 3.0}))
    storage.queue_again(study, study.trials[0], retries=1)
    retry = study.trials[1]
    assert retry.state == TrialState.WAITING and retry.params == {"x": 1.0}
    assert retry.user_attrs == {"baseline": "params.yaml"} and retry.system_attrs["retry_history"] == [0]
    storage.queue_again(study, optuna.trial.create_trial(state=TrialState.FAIL, params=retry.params,
                                                         distributions=retry.distributions,
                                                         system_attrs=retry.system_attrs), retries=1)
    assert len(study.trials) == 2  # its second loss: not again


def test_seconds_per_step_leave_out_the_first_step_and_average_the_others():
    """The trial's speed: the time between the ends of the first and the last step over the steps
    between them (the first traces and compiles). Each step's end is bracketed by two clock reads
    here, so the expected value has exact bounds, whatever the machine's load."""
    clock, ends = objective._StepClock(), []
    for step, seconds in enumerate([0.3, 0.01, 0.02, 0.01, 0.02]):  # a slow first step, as a compiling one
        time.sleep(seconds)
        before = time.perf_counter()
        clock.on_train_batch_end(step)
        ends.append((before, time.perf_counter()))
    timed = len(ends) - 1
    assert (ends[-1][0] - ends[0][1]) / timed <= clock.seconds_per_step <= (ends[-1][1] - ends[0][0]) / timed
    one = objective._StepClock()
    one.on_train_batch_end(0)
    assert math.isnan(one.seconds_per_step)  # a single step times nothing (the objective's nanmean skips it)
