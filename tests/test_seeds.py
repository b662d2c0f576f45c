"""The seeds of every trainer, selection and sweep: the values the pipeline has always used.

Each expected number below was worked out by hand from the recipe each place used before the
recipes moved into ``synthset.seeds`` (``seed * 1000 + label`` for a class's GAN, ``seed * 1000 +
999`` for a GAN of every class, ``seed + 7919 * label`` for the selection's noise, ``seed + 100 *
draw`` and ``seed + 1000 * split`` in stage gan_seeds, ``seed + i`` for the classifiers and the
sweep's workers): a change of any recipe would change every metric the pipeline writes.
"""

import pytest

from synthset import seeds


@pytest.mark.parametrize(("seed", "label", "expected"), [(42, 0, 42000), (42, 3, 42003), (7, 9, 7009), (0, 5, 5)])
def test_a_class_gans_seed(seed, label, expected):
    assert seeds.gan_of_class(seed, label) == expected


@pytest.mark.parametrize(("seed", "expected"), [(42, 42999), (7, 7999), (142, 142999)])
def test_the_seed_of_a_gan_of_every_class(seed, expected):
    assert seeds.gan_of_all_classes(seed) == expected


@pytest.mark.parametrize(("seed", "label", "expected"), [(42, 0, 42), (42, 3, 23799), (7, 9, 71278), (142, 2, 15980)])
def test_the_selection_noise_of_a_class(seed, label, expected):
    assert seeds.selection_noise(seed, label) == expected


@pytest.mark.parametrize(("seed", "draw", "expected"), [(42, 0, 42), (42, 1, 142), (42, 4, 442), (7, 2, 207)])
def test_the_seed_of_a_draw_of_the_gans(seed, draw, expected):
    assert seeds.gan_draw(seed, draw) == expected


@pytest.mark.parametrize(("seed", "split", "expected"), [(42, 0, 42), (42, 1, 1042), (42, 3, 3042)])
def test_the_seed_of_a_split_of_the_raw_data(seed, split, expected):
    assert seeds.data_split(seed, split) == expected


def test_a_draws_class_gan_and_selection_take_the_draws_seed_for_the_pipelines():
    """Stage gan_seeds runs the pipeline's stages with the draw's seed in place of ``seed``."""
    drawn = seeds.gan_draw(42, 1)
    assert (seeds.gan_of_class(drawn, 3), seeds.gan_of_all_classes(drawn), seeds.selection_noise(drawn, 3)) == (
        142003, 142999, 23899)


def test_classifier_generation_and_sweep_seeds():
    assert seeds.classifiers(42, 3) == [42, 43, 44]
    assert seeds.classifiers(42, 1) == [42]
    assert (seeds.classifier(42, 0), seeds.classifier(42, 1)) == (42, 43)
    assert seeds.generated_noise(42, 3, 0) == (42, 3, 0)  # the training set, the chosen generator
    assert seeds.generated_noise(42, 3, 1, 2) == (42, 3, 1, 2)  # study 2's test set, the third pooled generator
    assert (seeds.sweep_sampler(42, 0), seeds.sweep_sampler(42, 3)) == (42, 45)


def test_no_two_purposes_share_a_seed_in_a_default_run():
    """A GAN's seed is never a classifier's, a draw's or a split's: each would otherwise repeat another's noise."""
    classes = range(30)
    gans = {seeds.gan_of_class(42, label) for label in classes} | {seeds.gan_of_all_classes(42)}
    others = {*seeds.classifiers(42, 5), *(seeds.gan_draw(42, d) for d in range(1, 10)),
              *(seeds.data_split(42, s) for s in range(1, 10))}
    assert len(gans) == 31 and not gans & others
