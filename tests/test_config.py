import pytest
import yaml

from synthset import config
from synthset.errors import SynthsetError


def test_every_scale_of_the_project_params_is_valid(params_raw):
    for scale in ("default", "paper", "tiny"):
        for dataset in config.DATASETS:
            params = config.resolve(params_raw, scale=scale, dataset=dataset)
            generator = params.gan.generator
            assert generator.base_size * 2 ** len(generator.filters) == params.data.image_shape[0]


def test_dataset_overrides_apply_to_that_dataset_only(params_raw):
    mnist = config.resolve(params_raw, dataset="mnist")
    fruit = config.resolve(params_raw, dataset="fids30")
    assert (mnist.gan.generator.base_size, fruit.gan.generator.base_size) == (7, 16)
    assert (mnist.quality.selection_metric, fruit.quality.selection_metric) == ("fid", "kid")
    assert fruit.gan.adam == mnist.gan.adam  # what FIDS30 does not override is shared
    assert fruit.data.labels == list(range(10)) and fruit.data.class_names[0] == "apples"
    assert mnist.data.labels == mnist.data.classes
    paper = config.resolve(params_raw, scale="paper", dataset="fids30")
    assert (paper.gan.epochs, paper.gan.batch_size, paper.generate.images_per_class) == (1000, 6, 600)
    assert (paper.classifier.epochs, paper.classifier.batch_size) == (48, 12)
    with pytest.raises(ValueError, match="no dataset"):
        config.resolve(params_raw).data


def test_bad_dataset_override_names_the_dataset_and_field(params_raw):
    params_raw["scales"]["tiny"]["fids30"]["overrides"]["gan"]["epochs"] = 0
    message = _error(params_raw)
    assert "scale 'tiny'" in message and "fids30.overrides" in message and "gan.epochs" in message
    params_raw["scales"]["tiny"]["fids30"]["overrides"]["gan"]["epochs"] = 2
    params_raw["fids30"]["overrides"]["classifer"] = {"epochs": 3}
    assert "fids30.overrides.classifer" in _error(params_raw)


def test_fids30_settings_are_checked(params_raw):
    params_raw["fids30"]["image_shape"] = [64, 32, 3]
    assert "must be square" in _error(params_raw)
    params_raw["fids30"]["image_shape"] = [64, 64, 3]
    params_raw["fids30"]["classes"] = ["apples", "apples"]
    assert "lists a class twice" in _error(params_raw)
    params_raw["fids30"]["classes"] = ["apples", "limes"]
    params_raw["fids30"]["resize"] = "stretch"
    assert "fids30.resize" in _error(params_raw)
    params_raw["fids30"]["resize"] = "squash"
    params_raw["datasets"] = ["mnist", "cifar"]
    assert "datasets" in _error(params_raw)
    params_raw["datasets"] = ["mnist", "mnist"]
    assert "lists a dataset twice" in _error(params_raw)
    params_raw["datasets"] = ["mnist"]
    params_raw["dataset"] = "mnist"
    assert "dataset: not a setting" in _error(params_raw)


def test_scale_block_overrides_shared_settings(params_raw):
    paper = config.resolve(params_raw, scale="paper")
    tiny = config.resolve(params_raw, scale="tiny")
    assert (paper.gan.epochs, paper.gan.batch_size, paper.generate.images_per_class) == (30, 128, 8000)
    assert tiny.gan.epochs < paper.gan.epochs
    assert tiny.gan.adam == paper.gan.adam  # shared settings are the same in every scale


def _error(raw, scale=None) -> str:
    with pytest.raises(SynthsetError) as caught:
        config.resolve(raw, "params.yaml", scale=scale)
    return str(caught.value)


def test_unknown_key_is_named(params_raw):
    params_raw["gan"]["learning_rat"] = 0.1
    message = _error(params_raw)
    assert "gan.learning_rat" in message and "Extra inputs are not permitted" in message


def test_wrong_type_names_field_and_value(params_raw):
    params_raw["scales"]["default"]["gan"]["epochs"] = "many"
    message = _error(params_raw)
    assert "gan.epochs" in message and "'many'" in message and "scale 'default'" in message


def test_out_of_range_value_names_field_and_value(params_raw):
    params_raw["gan"]["generator"]["dropout"] = 1.5
    message = _error(params_raw)
    assert "gan.generator.dropout" in message and "1.5" in message


def test_error_in_another_scale_is_caught_before_any_work(params_raw):
    params_raw["scales"]["paper"]["gan"]["batch_size"] = -1
    message = _error(params_raw, scale="default")
    assert "scale 'paper'" in message and "gan.batch_size" in message


def test_missing_setting_is_an_error_not_a_default(params_raw):
    del params_raw["scales"]["tiny"]["gan"]["epochs"]
    assert "gan.epochs" in _error(params_raw) and "Field required" in _error(params_raw)


def test_unknown_scale(params_raw):
    params_raw["scale"] = "huge"
    assert "unknown scale 'huge'" in _error(params_raw)


def test_inconsistent_discriminator_layers(params_raw):
    params_raw["scales"]["default"]["gan"]["discriminator"]["strides"] = [2]
    assert "strides" in _error(params_raw)


def test_reversed_range(params_raw):
    params_raw["augment"]["zoom"] = [1.0, 0.5]
    assert "zoom range [1.0, 0.5]" in _error(params_raw)


def test_load_reports_missing_and_malformed_files(tmp_path):
    with pytest.raises(SynthsetError, match="not found"):
        config.load(tmp_path / "params.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("gan: [unclosed\n")
    with pytest.raises(SynthsetError, match="bad.yaml: not valid YAML"):
        config.load(bad)


def test_load_reads_selected_scale(tmp_path, params_raw):
    params_raw["scale"] = "tiny"
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params_raw))
    assert config.load(path).gan.epochs == params_raw["scales"]["tiny"]["gan"]["epochs"]


def test_generate_epoch_is_selected_last_or_a_number(params_raw):
    assert config.resolve(params_raw).generate.epoch == "selected"
    params_raw["generate"]["epoch"] = 4
    assert config.resolve(params_raw).generate.epoch == 4
    params_raw["generate"]["epoch"] = "best"
    assert "generate.epoch" in _error(params_raw)


def test_unknown_selection_metric_is_named(params_raw):
    params_raw["quality"]["selection_metric"] = "inception_score"
    message = _error(params_raw)
    assert "quality.selection_metric" in message and "'inception_score'" in message


def test_holdout_too_small_for_the_knn_metrics_is_refused(params_raw):
    params_raw["scales"]["tiny"]["mnist"]["holdout_per_class"] = 8
    message = _error(params_raw)
    assert "mnist.holdout_per_class=8" in message and "quality.nearest_k=5" in message and "scale 'tiny'" in message
