"""Every seed the project derives from ``params.seed``, in one place, each named for what it seeds.

Trainers, the epoch selection, the sweep and the extra draws of stage ``gan_seeds`` all take their
seeds from here, so that two places meant to train or score the same thing (a sweep's trial 0 and
the pipeline, say) cannot drift apart, and two places meant to differ (an extra draw of the GANs
and a classifier seed) cannot meet by accident.
"""

from __future__ import annotations

ALL_CLASSES = 999  # stands for the label in a GAN of every class: no class has it
SELECTION_NOISE_STRIDE = 7919  # a prime: the classes' scoring noises stay far apart
GAN_DRAW_STRIDE = 100  # draw d's seed: none of draw 0's classifier seeds (seed, seed + 1, ...)
DATA_SPLIT_STRIDE = 1000  # split s's seed: none of the GAN draws' seeds


def gan_of_class(seed: int, label: int) -> int:
    """Class ``label``'s GAN (its weights, its batches and its sample grids' noise): the stage and
    a sweep's trial train the same GAN from it."""
    return seed * 1000 + label


def gan_of_all_classes(seed: int) -> int:
    """A GAN of every class: the conditional one, or ``shared_then_per_class``'s shared part."""
    return gan_of_class(seed, ALL_CLASSES)


def selection_noise(seed: int, label: int) -> int:
    """The noise from which every checkpoint of class ``label`` draws the images it is scored by,
    in the epoch selection and in a sweep's trial alike."""
    return seed + SELECTION_NOISE_STRIDE * label


def classifier(seed: int, index: int) -> int:
    """The ``index``-th of a source's classifier trainings (``classifier.seeds`` of them)."""
    return seed + index


def classifiers(seed: int, count: int) -> list[int]:
    """The seeds of a source's ``count`` classifier trainings, the first ``seed`` itself."""
    return [classifier(seed, index) for index in range(count)]


def generated_noise(seed: int, label: int, stream: int, pooled: int = 0) -> tuple[int, ...]:
    """The noise (a ``numpy`` seed sequence) of class ``label``'s synthetic images in ``stream``
    (0: the training set, 1: study 2's test set) from its ``pooled``-th generator: no two share a draw."""
    return (seed, label, stream) if pooled == 0 else (seed, label, stream, pooled)


def gan_draw(seed: int, draw: int) -> int:
    """The whole pipeline's seed in draw ``draw`` of stage ``gan_seeds`` (draw 0: the pipeline)."""
    return seed + GAN_DRAW_STRIDE * draw


def data_split(seed: int, split: int) -> int:
    """The seed of split ``split`` of the raw data in stage ``gan_seeds`` (split 0: the pipeline's)."""
    return seed + DATA_SPLIT_STRIDE * split


def sweep_sampler(seed: int, worker: int) -> int:
    """Sweep worker ``worker``'s Optuna sampler: workers draw different values, one worker is reproducible."""
    return seed + worker
