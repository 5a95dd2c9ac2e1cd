"""Does autoencoder pretraining pay? A trial's encoder as a classifier of its data's classes at a few label budgets.

    python -m analysis.transfer --study NAME [--trial N ...] [--labels 0.01 0.1 1.0] [--seeds 3] [--storage URL] [--out DIR]
    python -m analysis.transfer --study NAME --front [--labels ...] [--seeds ...]

How the field measures it (Coates, Lee & Ng 2011; the self-supervised literature since): the
pretrained encoder read by a classifier at several label budgets, against the same architecture
trained from scratch and against codes that cost no training. For each chosen trial (default: the
best) and each label fraction of the study's training split (a seeded, class-balanced subset:
``round(fraction · N / classes)`` images of each class; 1% of 48,000 is 480 images; 100% is the
whole split as it is), six methods, every one fitted on the same labelled images:

- ``linear``: the frozen encoder's code, a linear classifier (:func:`analysis.probe.linear_probe`:
  standardised, not whitened, logistic regression with its C chosen on validation; whitened from a
  few hundred labelled images, every direction of the noise weighs as much as the signal's);
- ``mlp``: the frozen code, a small MLP head (:func:`cae.classifier.head`: :data:`~cae.classifier.HIDDEN` ReLU units, dropout);
- ``finetune``: the pretrained encoder and that head, trained end to end;
- ``scratch``: the same encoder architecture from PyTorch's default initialisation (seeded), end to end;
- ``pca``: no encoder: PCA's code of the trial's latent size (fitted on every train image, as the
  autoencoder was, without labels), a linear classifier;
- ``pixels``: no encoder: the raw pixels, a linear classifier.

One rule for every network (the MLP head on frozen codes, fine-tuning and scratch), :mod:`cae.classifier`'s:
AdamW at :data:`~cae.classifier.LR` with weight decay :data:`~cae.classifier.WEIGHT_DECAY`, batches of
:data:`~cae.classifier.BATCH`, cross-entropy, no augmentation, ``ceil(3 / √fraction)`` epochs (30 at 1%, 10 at 10%,
3 at 100%: a budget 100× smaller gets 10× the epochs), the validation accuracy measured about
:data:`~cae.classifier.EVALUATIONS` times, and the weights of the best of those kept. Every choice (the probes' C, the
networks' epoch) is made on the same seeded :data:`~analysis.transfer.data.VAL_IMAGES` validation images; the test
split is scored once, at the end. A seed draws both the labelled subset and the network's initialisation; at 100% the
subset is the split itself, so one seed runs there. The same command gives the same numbers.

The reading calls a gap real only beyond :data:`~analysis.transfer.estimates.NOISE` standard errors: a method's mean accuracy has
the standard error ``√(s² / k + a(1 − a) / n)`` (``s`` the spread of its ``k`` seeds, the second term
the binomial error of ``n`` test images), and two methods' errors add in quadrature.

``--front`` asks the other question of every complete trial of the study: the frozen linear
probe's accuracy against latent size and against reconstruction PSNR, with Spearman's ρ (does a
better reconstruction give better features?).

Writes to ``studies/<study>/analysis/`` (or ``--out``): ``transfer.csv`` (one row per run: trial,
method, labels, seed, test accuracy, validation accuracy, epochs, chosen epoch, C, seconds),
``transfer.json``, ``transfer.png`` (accuracy against labels, one line per method) and
``transfer.md``; with ``--front``, ``transfer-front.*``. From Python, given a study ``latent``::

    from analysis import transfer
    result = transfer.compute("latent", fractions=(0.01, 1.0), seeds=3)
    result.summary()                                 # a DataFrame: mean and spread per trial, method and budget
    transfer.plot(result)
    transfer.render(result, Path("out"))
    front = transfer.compute_front("latent")
    front.correlations[(1.0, "test_psnr")].rho
"""

from analysis.transfer.command import main
from analysis.transfer.data import LABELS, SEEDS, Parts, balanced_subset, labelled_subsets, per_class
from analysis.transfer.estimates import Estimate, pays
from analysis.transfer.figures import plot, plot_front
from analysis.transfer.front import FrontResult, compute_front
from analysis.transfer.front_report import front_reading, render_front
from analysis.transfer.pretraining import TransferResult, compute
from analysis.transfer.reading import reading
from analysis.transfer.report import render
from analysis.transfer.runs import METHODS, Run, TrialInfo, epochs_for, trial_runs
from analysis.transfer.tables import accuracy_table
from cae.classifier import Classifier, encoder_of, fit_classifier, scratch_encoder, seeded_classifier

__all__ = [
    "LABELS",
    "METHODS",
    "SEEDS",
    "Classifier",
    "Estimate",
    "FrontResult",
    "Parts",
    "Run",
    "TransferResult",
    "TrialInfo",
    "accuracy_table",
    "balanced_subset",
    "compute",
    "compute_front",
    "encoder_of",
    "epochs_for",
    "fit_classifier",
    "front_reading",
    "labelled_subsets",
    "main",
    "pays",
    "per_class",
    "plot",
    "plot_front",
    "reading",
    "render",
    "render_front",
    "scratch_encoder",
    "seeded_classifier",
    "trial_runs",
]
