"""The dataset catalog's pure parts: which dvc.lock outputs are synthetic sets, their settings, the
settings diff, and the terminal views (the end-to-end test runs the commands on a real repository)."""

import pandas as pd
import yaml

from synthset.catalog import history, listing

LOCK = yaml.safe_dump({"schema": "2.0", "stages": {
    "train_gan@mnist": {"params": {"params.yaml": {"mnist.gan": {"generator": {"dropout": 0.1}}, "seed": 42}},
                        "outs": [{"path": "artifacts/mnist/gan", "md5": "g.dir"}]},
    "select_epochs@mnist": {"params": {"params.yaml": {"mnist.quality": {"selection_metric": "fid"}}}},
    "generate@mnist": {"params": {"params.yaml": {"generate": {"images_per_class": 2000}}},
                       "outs": [{"path": "artifacts/mnist/synthetic", "md5": "s.dir"}]},
    "generate_test@mnist": {"params": {"params.yaml": {"study2": {"test_images_per_class": 100}}},
                            "outs": [{"path": "artifacts/mnist/synthetic_test", "md5": "t.dir"}]},
    "prepare@mnist": {"outs": [{"path": "artifacts/mnist/real/train.npz", "md5": "r"}]},
}})
REVISION = history.Revision("a" * 40, "aaaaaaa", "2026-12-01T00:00:00+00:00", "commit")


def test_only_the_generated_sets_are_versions_with_the_settings_of_the_stages_that_made_them():
    found = {v.set.name: v for v in history.versions_in(LOCK, REVISION)}
    assert sorted(found) == ["mnist-synthetic", "mnist-synthetic-test"]
    assert found["mnist-synthetic"].md5 == "s.dir" and found["mnist-synthetic-test"].md5 == "t.dir"
    assert found["mnist-synthetic"].settings == {"mnist.gan.generator.dropout": 0.1, "seed": 42,
                                                 "mnist.quality.selection_metric": "fid", "generate.images_per_class": 2000}
    assert "generate.images_per_class" not in found["mnist-synthetic-test"].settings  # not its generation stage
    assert history.synthetic_set("artifacts/mnist/real/train.npz") is None


def test_changed_settings_name_each_key_with_old_and_new_value():
    before = {"a": 1, "b": [1, 2], "c": "x"}
    assert history.changed_settings(before, {"a": 1, "b": [1, 3], "d": True}) == \
        'b: [1, 2] -> [1, 3]; c: "x" -> null; d: null -> true'
    assert history.changed_settings(before, dict(before)) == ""


def test_terminal_view_is_one_short_line_per_version_and_runs_view_names_each_run():
    frame = pd.DataFrame([{
        "set": "mnist-synthetic", "version": "0123456789abcdef.dir", "revision": "aaaaaaa", "kind": "commit",
        "date": "2026-12-01T06:27:00+00:00", "revisions": 1, "changed": "x" * 100, "tstr_accuracy": 0.94512,
        "gap_pp": 3.35, "fid": 0.38888, "fid_floor": 0.28, "precision": 0.88, "recall": 0.8832,
        "label_fidelity": 0.9836, "where": "cache", "runs": "mnist-gan-class-0 1a2b3c4d (generated); "
                                                           "mnist-cnn-synthetic-seed-42 5e6f7a8b (training)"}])
    text = listing.terminal_view(frame)
    header, row = text.splitlines()
    assert "0123456789" in row and "abcdef" not in row and "2026-12-01 06:27" in row and "0.945" in row
    assert "x" * 45 + "..." in row and "x" * 46 not in row
    assert row.split()[-1] == "2" and len(row) < 200
    assert listing.runs_view(frame) == ("mnist-synthetic 0123456789 (aaaaaaa):\n"
                                        "  mnist-gan-class-0 1a2b3c4d (generated)\n"
                                        "  mnist-cnn-synthetic-seed-42 5e6f7a8b (training)")
