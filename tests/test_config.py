import pytest
import yaml

from synthset import config
from synthset.errors import SynthsetError


def test_every_scale_of_the_project_params_is_valid(params_raw):
    for scale in ("default", "paper", "tiny"):
        params = config.resolve(params_raw, scale=scale)
        assert params.gan.generator.base_size * 2 ** len(params.gan.generator.filters) == params.mnist.image_shape[0]


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
