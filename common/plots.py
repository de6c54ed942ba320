"""Run plots: confusion matrices and learning curves (matplotlib, headless Agg backend).

A run's figures are extras: one that fails to draw or save (a full disk, a degenerate input)
never costs a finished run its records. `guarded` turns the failure into a warning line and
keeps it in `FIGURE_FAILURES`, which the run's end (`common.run_lifecycle.finish_run`) moves into
metrics.json's warnings. Figures have a bounded size whatever the number of classes.
"""
from __future__ import annotations

import functools
import inspect
import textwrap
from pathlib import Path
from typing import Callable, Optional, Sequence

import matplotlib

matplotlib.use("Agg")  # runs write PNGs on servers with no display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.metrics import ConfusionMatrixDisplay  # noqa: E402

from common.distributed import is_main_process  # noqa: E402


FIGURE_FAILURES: list[str] = []  # figures that could not be made since the last `drain_figure_failures`
MAX_FIGURE_INCHES = 14.0  # at dpi 120: at most 1,680 pixels a side
LABELLED_CELLS = 12  # confusion matrices up to this many classes show counts in their cells


def guarded(plot: Callable) -> Callable:
    """`plot`, whose failure prints a warning and is kept in FIGURE_FAILURES instead of raising."""
    @functools.wraps(plot)
    def draw(*args, **kwargs):
        try:
            return plot(*args, **kwargs)
        except Exception as exc:  # any failure of a figure: the run's records come first
            plt.close("all")
            path = inspect.signature(plot).bind(*args, **kwargs).arguments.get("path", "?")
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            message = f"figure {Path(str(path)).name} was not drawn ({type(exc).__name__}: {reason})"
            print(f"WARNING: {message}")
            FIGURE_FAILURES.append(message)
            return None
    return draw


def drain_figure_failures() -> list[str]:
    failures = list(FIGURE_FAILURES)
    FIGURE_FAILURES.clear()
    return failures


def wrap_label(name: str, width: int = 18) -> str:
    """A long class name on several lines, so that tick labels do not run into each other."""
    return "\n".join(textwrap.wrap(str(name), width)) or str(name)


def legend_below(ax, columns: int = 2) -> None:
    """The legend under the axes (below its x label): it can hide no plotted point."""
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=columns, fontsize=8, frameon=False)


def legend_beside(ax) -> None:
    """The legend right of the axes, for many series."""
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0, fontsize=8, frameon=False)


def save_figure(fig, path: Path) -> None:
    """Write a figure atomically (temporary file, then rename) and close it; under
    torch.distributed only rank 0 writes."""
    if not is_main_process():
        plt.close(fig)
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    fig.savefig(tmp, dpi=120, bbox_inches="tight")
    plt.close(fig)
    tmp.replace(path)


@guarded
def plot_confusion_matrix(matrix: Sequence[Sequence[int]], label_names: Sequence[str], path: Path,
                          title: str = "Confusion matrix") -> None:
    """Counts, with each row's recall share in brackets (rows are true labels), for up to
    LABELLED_CELLS classes; beyond, a heat map of the shares alone (no cell text) whose tick
    labels thin out, at a bounded size (131 FiQA aspect paths fit in 14 inches)."""
    counts = np.asarray(matrix)
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    n = len(label_names)
    labelled = n <= LABELLED_CELLS
    side = min(MAX_FIGURE_INCHES, 2.0 + 1.1 * n) if labelled else MAX_FIGURE_INCHES
    fig, ax = plt.subplots(figsize=(side + 1.0, side))
    names = [wrap_label(name) for name in label_names] if labelled else list(label_names)
    ConfusionMatrixDisplay(shares, display_labels=names).plot(
        ax=ax, cmap="Blues", colorbar=not labelled, include_values=False, im_kw={"vmin": 0, "vmax": 1},
        xticks_rotation=45 if labelled else 90)
    if labelled:
        for label in ax.get_xticklabels():
            label.set_horizontalalignment("right")
        for i in range(counts.shape[0]):
            for j in range(counts.shape[1]):
                ax.text(j, i, f"{counts[i, j]}\n({shares[i, j]:.0%})", ha="center", va="center",
                        color="white" if shares[i, j] > 0.5 else "black", fontsize=9)
    else:  # every k-th class named, in small type: the rows and columns stay in order
        step = max(1, int(np.ceil(n / 60)))
        ticks = list(range(0, n, step))
        ax.set_xticks(ticks, [str(label_names[i])[:30] for i in ticks], fontsize=5, rotation=90)
        ax.set_yticks(ticks, [str(label_names[i])[:30] for i in ticks], fontsize=5)
        title += f" ({n} classes: share of each true class, no counts)"
    ax.set_title(title)
    ax.set_xlabel("Predicted label")
    ax.set_ylabel("True label")
    save_figure(fig, path)


SCORE_NAMES = {"accuracy": "accuracy", "f1_macro": "macro-F1", "mse": "MSE", "r2": "R²",
               "exact_match": "exact match", "token_f1": "token F1"}


@guarded
def plot_learning_curves(history: Sequence[dict], path: Path, title: str = "Learning curves",
                         before: Optional[dict] = None) -> None:
    """Training and validation loss, and each validation score the history keeps (accuracy
    and macro-F1 for a classifier), per epoch; the untrained model's scores (`before`:
    `before_val_<score>`, where the run measured them) at epoch 0, so that even a one-epoch
    run draws a line. Legends sit under the panels."""
    epochs = [row["epoch"] for row in history]
    before = before or {}
    fig, (loss_ax, score_ax) = plt.subplots(1, 2, figsize=(10, 3.8))
    loss_ax.plot(epochs, [row["train_loss"] for row in history], "o-", label="train loss")
    loss_ax.plot(epochs, [row["val_loss"] for row in history], "o-", label="validation loss")
    loss_ax.set_xlabel("epoch")
    loss_ax.set_ylabel("loss")
    scores = [key for key in history[0] if key.startswith("val_") and key[4:] in SCORE_NAMES] if history else []
    values = []
    for key in scores:
        start = [(0, before[f"before_{key}"])] if f"before_{key}" in before else []
        points = start + [(row["epoch"], row[key]) for row in history]
        score_ax.plot(*zip(*points), "o-", label=f"validation {SCORE_NAMES[key[4:]]}"
                      + (" (epoch 0: before training)" if start else ""))
        values += [value for _, value in points]
    score_ax.set_xlabel("epoch")
    if values and 0 <= min(values) and max(values) <= 1:
        score_ax.set_ylim(0, 1)
    legend_below(loss_ax)
    legend_below(score_ax, columns=1)
    for ax in (loss_ax, score_ax):
        ax.grid(alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
    fig.suptitle(title)
    save_figure(fig, path)


@guarded
def plot_group_scores(scores: dict[str, dict[str, dict]], path: Path, title: str = "Macro-F1 per group") -> None:
    """Grouped bars: one group of bars per group (e.g. language), one bar per split or run.

    `scores` maps a series name (a split, or a model) to {group: {"f1_macro": ..., "n": ...}}.
    """
    series = list(scores)
    groups = list(dict.fromkeys(g for name in series for g in scores[name]))
    width = 0.8 / max(len(series), 1)
    bars_drawn = len(groups) * max(len(series), 1)
    fig, ax = plt.subplots(figsize=(min(MAX_FIGURE_INCHES, max(5.0, 0.32 * bars_drawn)), 3.8))
    for i, name in enumerate(series):
        xs = [j + (i - (len(series) - 1) / 2) * width for j, g in enumerate(groups) if g in scores[name]]
        values = [scores[name][g]["f1_macro"] for g in groups if g in scores[name]]
        bars = ax.bar(xs, values, width=width, label=name)
        if bars_drawn <= 40:  # beyond, the numbers would run into each other: the bars and the table say them
            ax.bar_label(bars, fmt="%.2f", fontsize=7, padding=1)
    ax.set_xticks(range(len(groups)), groups, rotation=20)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("macro-F1")
    ax.grid(axis="y", alpha=0.3)
    legend_beside(ax)
    ax.set_title(title)
    save_figure(fig, path)


@guarded
def plot_predicted_scores(gold: Sequence[float], predicted: Sequence[float], path: Path,
                          title: str = "Predicted vs gold scores") -> None:
    """One point per example, with the diagonal of perfect predictions."""
    fig, ax = plt.subplots(figsize=(4.6, 4.4))
    ax.scatter(gold, predicted, s=12, alpha=0.6)
    low, high = float(min(min(gold), min(predicted))), float(max(max(gold), max(predicted)))
    ax.plot([low, high], [low, high], "k--", linewidth=1, label="prediction = gold")
    ax.set_xlabel("gold score")
    ax.set_ylabel("predicted score")
    ax.set_title(title)
    legend_below(ax)
    ax.grid(alpha=0.3)
    save_figure(fig, path)
