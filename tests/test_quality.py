"""The quality metrics tell real from fake: near their floor for two real samples, far from it otherwise."""

import numpy as np
import pytest

from synthset.quality import measures as quality


@pytest.fixture(scope="module")
def real_pair():
    """Two disjoint samples of one 16-d distribution with some structure (a Gaussian mixture)."""
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 3, size=(5, 16))

    def draw(n):
        return centres[rng.integers(0, 5, n)] + rng.normal(0, 1, size=(n, 16))

    return draw(600), draw(600)


def test_two_real_samples_sit_at_the_floor(real_pair):
    a, b = real_pair
    assert quality.frechet_distance(a, b) < 2.0  # small-sample bias only
    kid, kid_std = quality.kernel_distance(a, b, subsets=20, subset_size=200, seed=0)
    assert abs(kid) < 3 * kid_std + 0.01
    manifold = quality.manifold_metrics(a, b, k=5)
    assert manifold["precision"] > 0.8 and manifold["recall"] > 0.8
    assert manifold["coverage"] > 0.8 and 0.7 < manifold["density"] < 1.3


def test_noise_is_far_from_real(real_pair):
    a, _ = real_pair
    noise = np.random.default_rng(1).uniform(-10, 10, size=a.shape)
    assert quality.frechet_distance(a, noise) > 50
    assert quality.kernel_distance(noise, a, 20, 200, 0)[0] > 0.1  # the reference (real) set comes second
    manifold = quality.manifold_metrics(a, noise, k=5)
    assert manifold["precision"] < 0.3 and manifold["coverage"] < 0.3


def test_one_repeated_image_collapses_recall_and_coverage(real_pair):
    a, b = real_pair
    repeated = np.repeat(b[:1], len(b), axis=0) + np.random.default_rng(2).normal(0, 1e-3, size=b.shape)
    assert quality.frechet_distance(a, repeated) > 10 * quality.frechet_distance(a, b)
    assert quality.kernel_distance(repeated, a, 20, 200, 0)[0] > 0.1
    manifold = quality.manifold_metrics(a, repeated, k=5)
    assert manifold["recall"] < 0.05 and manifold["coverage"] < 0.05


def test_frechet_distance_matches_the_closed_form_for_gaussians():
    rng = np.random.default_rng(3)
    a = rng.normal(0, 1, size=(20000, 3))
    b = rng.normal(2, 2, size=(20000, 3))  # |mu|^2 = 12, each dim: 1 + 4 - 2*2 = 1 -> 15
    assert quality.frechet_distance(a, b) == pytest.approx(15.0, rel=0.05)


def test_classifier_score_spans_one_to_the_number_of_classes():
    confident_balanced = np.eye(10)[np.arange(1000) % 10]
    assert quality.classifier_score(confident_balanced) == pytest.approx(10.0, rel=1e-3)
    assert quality.classifier_score(np.full((1000, 10), 0.1)) == pytest.approx(1.0)
    assert quality.classifier_score(np.eye(10)[np.zeros(1000, int)]) == pytest.approx(1.0)


def test_label_fidelity_counts_agreement():
    probabilities = np.eye(3)[[0, 1, 2, 2]]
    assert quality.label_fidelity(probabilities, np.array([0, 1, 2, 0])) == 0.75


def test_exact_copies_of_training_images_are_flagged_and_new_ones_are_not():
    rng = np.random.default_rng(4)
    train = rng.uniform(0, 1, size=(2000, 64))
    unseen = rng.uniform(0, 1, size=(500, 64))
    threshold = quality.near_copy_threshold(unseen, train, quantile=0.01)
    assert quality.near_copy_share(train[:300], train, threshold) == 1.0
    fresh = rng.uniform(0, 1, size=(500, 64))
    assert quality.near_copy_share(fresh, train, threshold) < 0.05
    slightly_moved = train[:300] + rng.normal(0, 0.01, size=(300, 64))
    assert quality.near_copy_share(slightly_moved, train, threshold) == 1.0


def test_nearest_distances_excludes_the_point_itself_and_works_in_blocks():
    points = np.arange(3000, dtype=float)[:, None]  # neighbours one apart, more than one block
    assert np.all(quality.nearest_distances(points, points, k=1) == 0)
    assert np.all(quality.nearest_distances(points, points, k=1, exclude_self=True) == 1)
    assert np.all(quality.nearest_distances(points[1:-1], points, k=2, exclude_self=True) == 1)
    assert np.all(quality.nearest_distances(points[2:-2], points, k=3, exclude_self=True) == 2)


def test_a_feature_almost_constant_in_a_small_reference_breaks_per_reference_scaling_not_training_scaling():
    """FIDS30's defect: 14 reference photos, one ReLU feature nearly dead among them. Scaled by the
    reference's own std, that feature dominates KID between two real samples; scaled once by the
    training split's statistics (``rescale=False`` on standardised features) it does not."""
    rng = np.random.default_rng(4)
    training = rng.normal(0, 1, size=(300, 8))
    reference, other_real = rng.normal(0, 1, size=(14, 8)), rng.normal(0, 1, size=(14, 8))
    reference[:, 0] = 1e-4 * rng.normal(size=14)  # almost constant in this class's reference
    shift, scale = training.mean(axis=0), training.std(axis=0)
    per_reference, _ = quality.kernel_distance(other_real, reference, 50, 8, 0)
    per_training, _ = quality.kernel_distance((other_real - shift) / scale, (reference - shift) / scale, 50, 8, 0,
                                              rescale=False)
    assert abs(per_reference) > 1e6  # far from 0 either way: noise, not a measurement
    assert abs(per_training) < 5


def test_a_standardized_extractor_gives_zero_mean_unit_std_features_on_its_fitting_images():
    from synthset.models.features import FeatureExtractor, build_feature_network

    network = build_feature_network(image_shape=(8, 8, 1), num_classes=3, filters=[4], feature_dim=6, dropout=0.0)
    images = np.random.default_rng(5).integers(0, 256, size=(200, 8, 8, 1), dtype=np.uint8)
    raw, _ = FeatureExtractor(network)(images)
    features, probabilities = FeatureExtractor(network).standardized(images)(images)
    live = raw.std(axis=0) > 0  # dead ReLU features stay constant (scale 1)
    assert np.allclose(features[:, live].mean(axis=0), 0, atol=1e-6)
    assert np.allclose(features[:, live].std(axis=0), 1, atol=1e-6)
    assert probabilities.shape == (200, 3)


def test_a_copy_of_a_training_image_is_at_distance_zero_whatever_the_blas_kernel():
    """Two CPUs gave FIDS30 near-copy floors of 0.0171 and 0.0184: the matrix product's rounding
    noise, not the images, decided. An exact copy must be at exactly 0, a changed pixel above it."""
    from synthset.quality.measures import near_copy_share, near_copy_threshold, nearest_pixel_distances

    rng = np.random.default_rng(0)
    train = rng.uniform(0, 1, (40, 64 * 64 * 3))
    copies = train[:10].copy()
    moved = copies.copy()
    moved[:, 0] += 1 / 255
    assert (nearest_pixel_distances(copies, train) == 0).all()
    assert (nearest_pixel_distances(moved, train) > 0).all()
    assert near_copy_threshold(copies, train, 0.5) == 0.0
    assert near_copy_share(moved, train, threshold=1e-2) == 1.0  # 1/255 away: within 0.01
    assert near_copy_share(moved, train, threshold=1e-3) == 0.0
