"""The report's prose: its setup paragraph and each trial's reading, every claim computed from the numbers."""

from __future__ import annotations

from analysis import probe
from analysis.transfer.estimates import NOISE, budget, compared, estimate, pays, percent, still_improving
from analysis.transfer.pretraining import TransferResult
from analysis.transfer.runs import METHODS, TrialInfo, epochs_for
from cae.classifier import BATCH, DROPOUT, EVALUATIONS, HIDDEN, LR, WEIGHT_DECAY


def _listed(items: list[str]) -> str:
    """``1%``, ``1% and 10%``, ``1%, 10% and 100%``."""
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def reading(result: TransferResult, info: TrialInfo) -> str:
    """A paragraph on one trial's numbers, every claim computed from them."""
    lines = []
    for fraction in result.fractions:
        e = {m: estimate(result, info.number, m, fraction) for m in METHODS}
        lines.append(
            f"At {budget(result, fraction)}, fine-tuning the pretrained encoder reaches {percent(e['finetune'])} against "
            f"{percent(e['scratch'])} from scratch: "
            + compared(e["finetune"], e["scratch"])
            + f". Frozen, its code gives {percent(e['linear'])} through a linear classifier and {percent(e['mlp'])} through the MLP "
            f"head; PCA's code of the same size {percent(e['pca'])}, the pixels {percent(e['pixels'])}. The frozen code against "
            "PCA's: " + compared(e["linear"], e["pca"]) + "."
        )
        unfinished = [METHODS[m] for m in ("mlp", "finetune", "scratch") if still_improving(result, info.number, m, fraction)]
        if unfinished:
            lines.append(
                f"({', '.join(unfinished)} kept its last epoch on every seed: still improving when the rule stopped it, "
                "so more epochs may move it.)"
            )
    verdicts = pays(result, info.number)
    parts = []
    if verdicts["pays"]:
        parts.append(f"pretraining pays (fine-tuning beats scratch beyond noise) at {_listed(verdicts['pays'])} of the labels")
    if verdicts["costs"]:
        parts.append(f"it costs (scratch is ahead beyond noise) at {_listed(verdicts['costs'])}")
    if verdicts["level"]:
        parts.append(f"fine-tuning and scratch are level within noise at {_listed(verdicts['level'])}")
    lines.append(f"In short, for {info.name}: " + "; ".join(parts) + ".")
    return " ".join(lines)


def setup(result: TransferResult) -> str:
    """The report's paragraph on data and method."""
    epochs = ", ".join(f"{epochs_for(f)} at {100 * f:g}%" for f in result.fractions)
    return (
        f"Data: {result.source}; the study's split: {result.train_images:,} train images (every label fraction is of these), "
        f"{result.val_images:,} of its {result.val_images_available:,} validation images for every choice, {result.test_images:,} "
        f"test images scored once. Labelled subsets are class-balanced and seeded (seed k draws the k-th; {result.seeds} per fraction "
        f"below 100%, where the split itself is the subset and one run is made). Linear: standardised (not whitened) code, logistic "
        f"regression with C in {', '.join(f'{c:g}' for c in probe.CS)} chosen on validation (analysis.probe). Networks (the MLP "
        f"head on the frozen code, fine-tuning, scratch): a batch-normalised code, {HIDDEN} ReLU units, dropout {DROPOUT:g}; AdamW, "
        f"learning rate {LR:g}, weight decay {WEIGHT_DECAY:g}, batches of {BATCH}, no augmentation; {epochs} epochs; the weights of "
        f"the epoch with the best validation accuracy (measured about {EVALUATIONS} times a run) kept. PCA: fitted on every train "
        f"image without labels, its code of the trial's latent size. A gap is called real beyond {NOISE:g} standard errors "
        f"(each method's: √(s²/k + a(1 − a)/n), its k seeds' spread s and the binomial error on the n test images). Chance is "
        f"{result.chance:.1%}. Note that the validation labels used for choices outnumber the training labels at small budgets, "
        f"for every method alike."
    )
