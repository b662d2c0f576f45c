"""How real is a set of images: distances between feature distributions and nearest-neighbour tests.

Pure numpy/scipy on arrays of features (N, D), class probabilities (N, K) or flattened pixels.
Every function compares two sets of equal standing; the callers pair a synthetic set with held-out
real images and, for the floor, two disjoint real sets with each other.

References: FID (Heusel et al. 2017), KID (Binkowski et al. 2018), precision/recall as k-NN
manifolds (Kynkaanniemi et al. 2019), density and coverage (Naeem et al. 2020).
"""

from __future__ import annotations

import numpy as np
from scipy import linalg

# Nearest-neighbour searches compare blocks of this many queries at a time against all references.
_BLOCK = 1024


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets.

    tr((C_a C_b)^1/2) is computed as the sum of square roots of the eigenvalues of the symmetric
    C_a^1/2 C_b C_a^1/2, which is stable for the singular covariances of dead ReLU features.
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    mean_a, mean_b = a.mean(axis=0), b.mean(axis=0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root_a = _psd_sqrt(cov_a)
    cross = np.sqrt(np.clip(linalg.eigvalsh(root_a @ cov_b @ root_a), 0.0, None)).sum()
    distance = np.sum((mean_a - mean_b) ** 2) + np.trace(cov_a) + np.trace(cov_b) - 2.0 * cross
    return float(max(distance, 0.0))


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    values, vectors = linalg.eigh(matrix)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def kernel_distance(a: np.ndarray, b: np.ndarray, subsets: int, subset_size: int, seed: int,
                    rescale: bool = True) -> tuple[float, float]:
    """KID: unbiased squared MMD with the cubic polynomial kernel, mean and std over random subsets.

    Unbiased, so it is near zero (and may be slightly negative) for two samples of one distribution.
    ``subset_size`` should be well below the sample sizes, or every subset is the same sample.
    ``rescale=False`` is for features already standardised (see ``FeatureExtractor.standardized``).
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if rescale:
        # The kernel's 1/D scale assumes features of order one (Inception's are); ReLU features of a
        # small network can be tens, and the cubic kernel then turns them into noise. Scale each
        # dimension by its standard deviation in ``b``, the reference, so every set scored against
        # one reference is scaled alike. With a few images per class a dimension can be almost
        # constant in the reference and explode: standardise with the training split instead.
        scale = b.std(axis=0)
        scale[scale == 0] = 1.0
        a, b = a / scale, b / scale
    size = min(subset_size, len(a), len(b))
    rng = np.random.default_rng(seed)
    pick_a = np.stack([rng.choice(len(a), size, replace=False) for _ in range(subsets)])
    pick_b = np.stack([rng.choice(len(b), size, replace=False) for _ in range(subsets)])
    x, y = a[pick_a], b[pick_b]  # (subsets, size, D)
    dim = a.shape[1]

    def kernel(u, v):
        return (u @ v.transpose(0, 2, 1) / dim + 1.0) ** 3

    k_xx, k_yy, k_xy = kernel(x, x), kernel(y, y), kernel(x, y)
    off_diagonal = size * (size - 1)
    diagonal_xx = np.trace(k_xx, axis1=1, axis2=2)
    diagonal_yy = np.trace(k_yy, axis1=1, axis2=2)
    mmd = (
        (k_xx.sum(axis=(1, 2)) - diagonal_xx) / off_diagonal
        + (k_yy.sum(axis=(1, 2)) - diagonal_yy) / off_diagonal
        - 2 * k_xy.mean(axis=(1, 2))
    )
    return float(mmd.mean()), float(mmd.std())


def classifier_score(probabilities: np.ndarray) -> float:
    """Inception-score style: exp(E_x KL(p(y|x) || p(y))), from 1 (no information) to K (confident, balanced)."""
    p = np.clip(np.asarray(probabilities, np.float64), 1e-12, 1.0)
    marginal = p.mean(axis=0, keepdims=True)
    return float(np.exp(np.mean(np.sum(p * (np.log(p) - np.log(marginal)), axis=1))))


def label_fidelity(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """Share of images the feature network assigns to the class they are labelled with."""
    return float(np.mean(np.argmax(probabilities, axis=1) == np.asarray(labels)))


def squared_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """All pairwise squared Euclidean distances, (len(a), len(b)), via one matrix product."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return np.maximum((a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T, 0.0)


def nearest_distances(queries: np.ndarray, references: np.ndarray, k: int = 1, exclude_self: bool = False) -> np.ndarray:
    """Distance from each query to its k-th nearest reference, in blocks of queries to bound memory.

    ``exclude_self`` skips the zero distance of a point to itself when queries are the references.
    """
    rank = k if exclude_self else k - 1
    out = np.empty(len(queries))
    for start in range(0, len(queries), _BLOCK):
        block = squared_distances(queries[start : start + _BLOCK], references)
        out[start : start + _BLOCK] = np.sqrt(np.partition(block, rank, axis=1)[:, rank])
    return out


def manifold_metrics(real: np.ndarray, fake: np.ndarray, k: int) -> dict[str, float]:
    """Precision, recall, density and coverage from k-NN balls around each sample.

    Precision: share of fake samples inside some real sample's ball (fidelity). Recall: share of
    real samples inside some fake sample's ball (diversity). Density counts how many real balls
    hold each fake sample; coverage is the share of real balls holding at least one fake sample.
    """
    real_radius = nearest_distances(real, real, k, exclude_self=True)
    fake_radius = nearest_distances(fake, fake, k, exclude_self=True)
    real_to_fake = np.sqrt(squared_distances(real, fake))  # (R, F)
    inside_real_ball = real_to_fake < real_radius[:, None]
    inside_fake_ball = real_to_fake < fake_radius[None, :]
    return {
        "precision": float(inside_real_ball.any(axis=0).mean()),
        "recall": float(inside_fake_ball.any(axis=1).mean()),
        "density": float(inside_real_ball.sum(axis=0).mean() / k),
        "coverage": float((real_to_fake.min(axis=1) < real_radius).mean()),
    }


def nearest_pixel_distances(queries: np.ndarray, references: np.ndarray) -> np.ndarray:
    """Distance from each query to its nearest reference, recomputed from the pixel differences.

    The matrix product finds the nearest one fast, but its |a|^2 + |b|^2 - 2ab leaves rounding noise
    (~1e-6 on 64x64x3 photos) where an image meets its own copy, and that noise depends on the
    machine's BLAS kernel: a near-copy threshold drawn from it changed between two CPUs.
    """
    references = np.asarray(references, np.float64)
    out = np.empty(len(queries))
    for start in range(0, len(queries), _BLOCK):
        block = np.asarray(queries[start : start + _BLOCK], np.float64)
        nearest = references[squared_distances(block, references).argmin(axis=1)]
        out[start : start + _BLOCK] = np.sqrt(((block - nearest) ** 2).sum(axis=1))
    return out


def near_copy_threshold(unseen: np.ndarray, train: np.ndarray, quantile: float) -> float:
    """The ``quantile`` of distances from real images the generator never saw to their nearest training image.

    Closer to a training image than that is closer than new real images usually get: a near-copy.
    Inputs are flattened pixels scaled to [0, 1].
    """
    return float(np.quantile(nearest_pixel_distances(unseen, train), quantile))


def near_copy_share(candidates: np.ndarray, train: np.ndarray, threshold: float) -> float:
    """Share of candidates closer to some training image than ``threshold``."""
    return float(np.mean(nearest_pixel_distances(candidates, train) < threshold))
