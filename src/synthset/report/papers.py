"""The papers' own numbers, each with where it was read, for the report to show beside ours.

Only numbers stated in the papers' text and tables are here (their figures are not available as
data). ``STUDY1`` is *Generation and evaluation of unstructured synthetic datasets*; ``POSTER`` is
*How real is real?*.
"""

from __future__ import annotations

from dataclasses import dataclass

STUDY1 = "Generation and evaluation of unstructured synthetic datasets"
POSTER = "How real is real? (poster)"


@dataclass(frozen=True)
class PaperNumber:
    paper: str
    where: str  # section, figure or table
    what: str
    value: float


GAN_MNIST = [
    PaperNumber(STUDY1, "section 4, Figure 7", "G loss peak", 2.5),
    PaperNumber(STUDY1, "section 4, Figure 7", "G loss after ~1,000 steps", 1.0),
    PaperNumber(STUDY1, "section 4, Figure 7", "D loss at convergence", 0.8),
    PaperNumber(STUDY1, "section 4, Figure 7", "D accuracy at convergence", 0.5),
]

CLASSIFIER = {
    "mnist": [
        PaperNumber(STUDY1, "section 4, Figures 8-9", "validation accuracy gap between sources (points)", 3.0),
    ],
    "fids30": [
        PaperNumber(STUDY1, "section 5, Figure 11", "training accuracy, augmented, 48 epochs", 0.80),
        PaperNumber(STUDY1, "section 5, Figure 11", "training accuracy, real and synthetic, 48 epochs", 1.00),
        PaperNumber(STUDY1, "section 5, Figure 12", "validation accuracy, synthetic, epoch 1", 0.65),
        PaperNumber(STUDY1, "section 5, Figure 12", "epoch at which real and augmented reach 0.65", 15),
    ],
}

# The same statements as points on our curves: (curve, source, epoch, value, where).
CLASSIFIER_POINTS = {
    "mnist": [],
    "fids30": [
        ("train_accuracy", "augmented", 48, 0.80, "section 5, Figure 11"),
        ("train_accuracy", "real", 48, 1.00, "section 5, Figure 11"),
        ("train_accuracy", "synthetic", 48, 1.00, "section 5, Figure 11"),
        ("val_accuracy", "synthetic", 1, 0.65, "section 5, Figure 12"),
        ("val_accuracy", "real", 15, 0.65, "section 5, Figure 12"),
        ("val_accuracy", "augmented", 15, 0.65, "section 5, Figure 12"),
    ],
}

# Figure 7's stated levels as horizontal references: (panel, value, what).
GAN_MNIST_LEVELS = [("loss", 1.0, "paper: G loss ~1"), ("loss", 0.8, "paper: D loss ~0.8"),
                    ("accuracy", 0.5, "paper: D accuracy ~0.5")]

SCALE = {
    "mnist": "30 GAN epochs per class at batch 128; 8,000 generated images per class (section 4)",
    "fids30": "1,000 GAN epochs per class at batch 6; 600 generated images per class; CNN 48 epochs at batch 12 (section 5)",
}

# Table 1: the epoch chosen by eye for each fruit, of 1,000.
FIDS30_CHOSEN_EPOCH = {
    "strawberries": 390, "raspberries": 630, "limes": 870, "kiwifruit": 690, "grapes": 360,
    "coconuts": 990, "blueberries": 690, "bananas": 420, "apricots": 690, "apples": 570,
}
FIDS30_CHOSEN_EPOCH_WHERE = "section 5, Table 1"

# The poster's Results table (normalised version): train / test accuracy, real and synthetic test sets.
POSTER_TABLE_WHERE = "Results table"
POSTER_EPOCHS = (5, 50, 100)
POSTER_TABLE = {  # model -> epoch -> (train, test real, test synthetic)
    "linear_softmax": {5: (0.923, 0.919, 0.923), 50: (0.9359, 0.921, 0.921), 100: (0.9377, 0.916, 0.913)},
    "fcnn": {5: (0.989, 0.978, 0.957), 50: (0.999, 0.979, 0.969), 100: (0.999, 0.983, 0.962)},
    "cnn_4l": {5: (0.995, 0.986, 0.971), 50: (1.000, 0.989, 0.970), 100: (1.000, 0.989, 0.974)},
    "cnn_5l": {5: (0.996, 0.994, 0.972), 50: (0.998, 0.988, 0.973), 100: (0.998, 0.985, 0.969)},
}
POSTER_MODEL_NAMES = {"linear_softmax": "linear softmax", "fcnn": "fcnn", "cnn_4l": "cnn-4l", "cnn_5l": "cnn-5l"}

# semi-gan* (labelled real only) and semi-gan** (+ unlabelled synthetic): per epoch, train / test
# accuracy of the discriminator (real or fake) head, then of the label (class or fake) head.
POSTER_SEMI = {
    "labelled_only": {5: (1.000, 1.000, 0.9954, 0.973), 50: (1.000, 1.000, 1.000, 0.979), 100: (1.000, 1.000, 1.000, 0.977)},
    "with_synthetic": {5: (0.9666, 0.889, 0.9743, 0.857), 50: (1.000, 0.962, 1.000, 0.932), 100: (1.000, 0.968, 1.000, 0.933)},
}
POSTER_SEMI_NAMES = {"labelled_only": "semi-gan* (labelled real only)",
                     "with_synthetic": "semi-gan** (+ unlabelled synthetic)"}
POSTER_TEST_IMAGES = "1,000 real and 1,000 synthetic test images; 54,000 training images (Results table notes)"


# Per dataset, for the report: a dataset the papers did not run has no entry and gets none.
GAN = {"mnist": GAN_MNIST}
GAN_NOTE = {"fids30": "Paper (section 5): FIDS30's generator loss did not converge and the discriminator won."}
GAN_LEVELS = {"mnist": GAN_MNIST_LEVELS}
CHOSEN_EPOCH = {"fids30": (FIDS30_CHOSEN_EPOCH, FIDS30_CHOSEN_EPOCH_WHERE)}
# The paper's headline for the CNN trained on synthetic images: what it states, its value, where.
SYNTHETIC_HEADLINE = {
    "mnist": ("gap", "about 3", "paper, section 4, Figures 8-9"),
    "fids30": ("epoch_1", "0.65", "paper, section 5, Figure 12"),
}


# Salimans et al. 2016, Table 1: feature matching's test error on MNIST with 100 labelled images
# (mean over 10 seeds, after full training), the complete semi-supervised GAN's reference.
SSL_ERROR_100_LABELS = 0.0093
SSL_ERROR_WHERE = "Salimans et al. 2016, Table 1"
