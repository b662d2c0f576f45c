import pytest
import yaml

from synthset import config
from synthset.errors import SynthsetError


def _error(raw, scale=None, dataset="mnist") -> str:
    with pytest.raises(SynthsetError) as caught:
        config.resolve(raw, "params.yaml", scale=scale, dataset=dataset)
    return str(caught.value)


def test_every_scale_of_the_project_params_is_valid(params_raw):
    for scale in config.SCALES:
        for dataset in config.dataset_names(params_raw):
            params = config.resolve(params_raw, scale=scale, dataset=dataset)
            generator = params.gan.generator
            assert config.base_size(params.data.image_shape[0], len(generator.filters)) >= 2


@pytest.mark.parametrize("filters, side, fits", [([8, 4], 28, True), ([8, 4], 64, True), ([8, 4, 2], 28, False),
                                                 ([8, 4, 2], 32, True), ([8], 3, False), ([8, 4, 2, 2, 2], 64, True)])
def test_a_generator_is_built_for_the_resolution_or_refused_naming_the_setting(params_raw, filters, side, fits):
    """The up-samplings follow from the image side: 28 = 7 x 2 x 2, 32 = 4 x 2 x 2 x 2; 28 with three is refused."""
    params_raw["scales"]["default"]["mnist"]["gan"]["generator"]["filters"] = filters
    params_raw["mnist"]["data"]["image_shape"] = [side, side, 1]
    if fits:
        assert config.resolve(params_raw, dataset="mnist").data.image_shape[0] == side
    else:
        message = _error(params_raw)
        assert "gan.generator.filters" in message and f"{len(filters)} up-samplings cannot make mnist's" in message


# --- a value set in each place is the value that runs --------------------------------------------


def test_a_shared_value_runs_for_every_dataset_and_scale(params_raw):
    params_raw["gan"]["latent_dim"] = 64
    for scale in config.SCALES:
        for dataset in config.dataset_names(params_raw):
            assert config.resolve(params_raw, scale=scale, dataset=dataset).gan.latent_dim == 64


def test_a_dataset_value_runs_for_that_dataset_at_every_scale(params_raw):
    params_raw["fids30"]["quality"]["selection_metric"] = "coverage"
    for scale in config.SCALES:
        assert config.resolve(params_raw, scale=scale, dataset="fids30").quality.selection_metric == "coverage"
        assert config.resolve(params_raw, scale=scale, dataset="mnist").quality.selection_metric == "fid"


def test_a_scale_value_runs_for_that_dataset_at_that_scale_only(params_raw):
    params_raw["scales"]["default"]["fids30"]["classifier"]["epochs"] = 7
    assert config.resolve(params_raw, scale="default", dataset="fids30").classifier.epochs == 7
    assert config.resolve(params_raw, scale="paper", dataset="fids30").classifier.epochs == 48
    assert config.resolve(params_raw, scale="default", dataset="mnist").classifier.epochs == 3


def test_a_shared_value_that_a_scale_also_sets_is_refused_naming_both(params_raw):
    """The silent override of the old layering: shared 0.0123, the default scale's 0.0005 won."""
    params_raw["gan"]["adam"]["generator"] = {"learning_rate": 0.0123}
    message = _error(params_raw)
    assert "`gan.adam.generator.learning_rate` (0.0123)" in message
    assert "`scales.default.mnist.gan.adam.generator.learning_rate` (0.0005)" in message
    assert "remove one of the two" in message
    params_raw["scale"] = "tiny"  # every scale sets it: the message names the selected one's key
    assert "`scales.tiny.mnist.gan.adam.generator.learning_rate` (0.0002)" in _error(params_raw)


def test_a_shared_value_that_a_dataset_also_sets_is_refused_naming_both(params_raw):
    params_raw["quality"]["selection_metric"] = "kid"
    message = _error(params_raw, dataset="fids30")
    assert "`quality.selection_metric` ('kid')" in message and "`mnist.quality.selection_metric` ('fid')" in message


def test_a_dataset_value_that_a_scale_also_sets_is_refused_on_every_load(params_raw):
    """Caught for the paper scale while loading the default one: before any work."""
    params_raw["scales"]["paper"]["fids30"]["gan"]["generator"]["dropout"] = 0.1
    message = _error(params_raw, scale="default", dataset="mnist")
    assert "`fids30.gan.generator.dropout` (0.4)" in message
    assert "`scales.paper.fids30.gan.generator.dropout` (0.1)" in message and "scale 'paper'" in message


def test_a_mapping_set_over_a_value_is_refused(params_raw):
    params_raw["scales"]["tiny"]["mnist"]["gan"]["adam"] = 0.1
    params_raw["gan"]["adam"] = {"beta_2": 0.999, "generator": 0.1}
    message = _error(params_raw)
    assert "gan.adam" in message and "remove one of the two" in message


def test_places_name_every_key_a_section_comes_from(params_raw):
    assert config.places("gan", "fids30", "tiny") == ["gan", "fids30.gan", "scales.tiny.fids30.gan"]
    assert config.places("classifier", "mnist", "default") == ["classifier", "scales.default.mnist.classifier"]
    assert config.places("augment", "mnist", "paper") == ["augment"]
    assert config.places("data", "fids30", "default") == ["fids30.data", "scales.default.fids30.data"]
    assert config.places("study2", "fids30", "default") == ["study2"]  # FIDS30 runs no study 2 stage
    for scale in config.SCALES:  # every place exists in params.yaml, so dvc.yaml can declare it
        for dataset in config.dataset_names(params_raw):
            for section in ("data", *config.sections_of(dataset)):
                for place in config.places(section, dataset, scale):
                    node = params_raw
                    for part in place.split("."):
                        node = node[part]
                    assert isinstance(node, dict), place


def test_a_section_in_a_place_it_does_not_have_is_refused(params_raw):
    params_raw["fids30"]["classifier"] = {"epochs": 3}
    assert "fids30.classifier: not a place for settings" in _error(params_raw)
    del params_raw["fids30"]["classifier"]
    params_raw["scales"]["default"]["gan"] = {"epochs": 3}  # the old layout's scale-wide section
    assert "scales.default.gan: not a dataset" in _error(params_raw)
    del params_raw["scales"]["default"]["gan"]
    params_raw["scales"]["default"]["fids30"]["study2"] = {}
    assert "scales.default.fids30.study2: not a place for settings" in _error(params_raw)


def test_a_missing_place_is_named(params_raw):
    del params_raw["mnist"]["quality"]
    assert "mnist: lacks quality; a dataset's block holds data, gan, quality, sweep" in _error(params_raw)
    params_raw["mnist"]["quality"] = None
    assert "mnist.quality: missing" in _error(params_raw)


def test_a_hand_written_dataset_block_points_at_datasets_add(params_raw):
    """What a user tries first: a third dataset named in `datasets` with only its source."""
    params_raw["datasets"].append("mydigits")
    params_raw["mydigits"] = {"data": {"source": "/path/to/folder"}}
    message = _error(params_raw)
    assert "mydigits: lacks gan, quality, sweep" in message and "`synthset datasets add mydigits FOLDER`" in message
    del params_raw["mydigits"]
    assert "['mydigits'] has no block of settings" in _error(params_raw)


# --- validation -----------------------------------------------------------------------------------


def test_bad_value_names_the_place_that_set_it(params_raw):
    params_raw["scales"]["tiny"]["fids30"]["gan"]["epochs"] = 0
    message = _error(params_raw)
    assert "scale 'tiny'" in message and "gan.epochs" in message and "set at scales.tiny.fids30.gan.epochs" in message
    params_raw["scales"]["tiny"]["fids30"]["gan"]["epochs"] = 2
    params_raw["fids30"]["gan"]["generatr"] = {"dropout": 3}
    message = _error(params_raw)
    assert "gan.generatr" in message and "Extra inputs are not permitted" in message and "set at fids30.gan.generatr" in message


def test_fids30_settings_are_checked(params_raw):
    params_raw["fids30"]["data"]["image_shape"] = [64, 32, 3]
    assert "must be square" in _error(params_raw)
    params_raw["fids30"]["data"]["image_shape"] = [64, 64, 3]
    params_raw["fids30"]["data"]["classes"] = ["apples", "apples"]
    assert "lists a class twice" in _error(params_raw)
    params_raw["fids30"]["data"]["classes"] = ["apples", "limes"]
    params_raw["fids30"]["data"]["resize"] = "stretch"
    message = _error(params_raw)
    assert "fids30.resize" in message and "'stretch'" in message and "set at fids30.data.resize" in message
    params_raw["fids30"]["data"]["resize"] = "squash"
    params_raw["datasets"] = ["mnist", "cifar"]
    assert "datasets" in _error(params_raw)
    params_raw["datasets"] = ["mnist", "mnist"]
    assert "lists a dataset twice" in _error(params_raw)
    params_raw["datasets"] = ["mnist"]
    params_raw["dataset"] = "mnist"
    assert "dataset: not a setting" in _error(params_raw)


def test_unknown_key_is_named(params_raw):
    params_raw["gan"]["learning_rat"] = 0.1
    message = _error(params_raw)
    assert "gan.learning_rat" in message and "Extra inputs are not permitted" in message
    params_raw["gan"].pop("learning_rat")
    params_raw["optimiser"] = "adam"
    assert "optimiser: unknown setting" in _error(params_raw)


def test_wrong_type_names_field_and_value(params_raw):
    params_raw["scales"]["default"]["mnist"]["gan"]["epochs"] = "many"
    message = _error(params_raw)
    assert "gan.epochs" in message and "'many'" in message and "scale 'default'" in message


def test_out_of_range_value_names_field_and_value(params_raw):
    params_raw["gan"]["generator"]["dropout"] = 1.5
    message = _error(params_raw)
    assert "gan.generator.dropout" in message and "1.5" in message


def test_missing_setting_is_an_error_not_a_default(params_raw):
    del params_raw["scales"]["tiny"]["mnist"]["gan"]["epochs"]
    message = _error(params_raw)
    assert "gan.epochs" in message and "Field required" in message and "scale 'tiny'" in message


def test_unknown_scale(params_raw):
    params_raw["scale"] = "huge"
    assert "unknown scale 'huge'" in _error(params_raw)


def test_inconsistent_discriminator_layers(params_raw):
    params_raw["scales"]["default"]["mnist"]["gan"]["discriminator"]["strides"] = [2]
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
    assert config.load(path, dataset="mnist").gan.epochs == params_raw["scales"]["tiny"]["mnist"]["gan"]["epochs"]
    project = config.load(path)
    assert isinstance(project, config.Project) and not isinstance(project, config.Params)


def test_generate_epoch_is_selected_last_or_a_number(params_raw):
    assert config.resolve(params_raw, dataset="mnist").generate.epoch == "selected"
    assert config.resolve(params_raw, dataset="fids30").generate.epoch == -1  # per dataset and scale
    params_raw["scales"]["default"]["mnist"]["generate"]["epoch"] = 4
    assert config.resolve(params_raw, dataset="mnist").generate.epoch == 4
    params_raw["scales"]["default"]["mnist"]["generate"]["epoch"] = "best"
    assert "scales.default.mnist.generate.epoch" in _error(params_raw)


def test_unknown_selection_metric_is_named(params_raw):
    params_raw["mnist"]["quality"]["selection_metric"] = "inception_score"
    message = _error(params_raw)
    assert "quality.selection_metric" in message and "'inception_score'" in message


def test_holdout_too_small_for_the_knn_metrics_is_refused(params_raw):
    params_raw["scales"]["tiny"]["mnist"]["data"]["holdout_per_class"] = 8
    message = _error(params_raw)
    assert "mnist.holdout_per_class=8" in message and "quality.nearest_k=5" in message and "scale 'tiny'" in message


def test_study2_settings_exist_for_study2_datasets_only(params_raw):
    assert config.resolve(params_raw, dataset="mnist").study2.checkpoints == [1, 2]
    assert config.resolve(params_raw, dataset="fids30").study2 is None
