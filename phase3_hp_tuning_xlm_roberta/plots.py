"""Plots of a phase 3 study, from its trials table (completed trials) and the study.

Each plot is drawn when the study searched what it shows: the metric against the
learning rate (one line per optimizer), against warmup ratio and weight decay, an
optimizer x schedule heat map, and Optuna's parameter importances (fANOVA).
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd
from matplotlib.ticker import NullFormatter

from common.plots import plt, save_figure

PLOTS = ("metric_vs_learning_rate.png", "metric_vs_warmup_and_weight_decay.png", "optimizer_schedule_heatmap.png",
         "param_importances.png")


def completed(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["state"] == "COMPLETE"] if len(frame) else frame


def plot_metric_vs_learning_rate(frame: pd.DataFrame, metric: str, path: Path) -> bool:
    done = completed(frame).dropna(subset=["param_learning_rate"]) if "param_learning_rate" in frame else None
    if done is None or done.empty:
        return False
    fig, ax = plt.subplots(figsize=(6, 4))
    series = done.groupby("param_optimizer") if "param_optimizer" in done else [("all trials", done)]
    for name, rows in series:
        ax.scatter(rows["param_learning_rate"], rows[metric], alpha=0.35, s=18)
        means = rows.groupby("param_learning_rate")[metric].mean()
        ax.plot(means.index, means.values, "o-", label=f"{name} (mean)")
    pruned = frame[frame["state"] == "PRUNED"] if "param_learning_rate" in frame else frame.iloc[:0]
    if len(pruned):
        ax.scatter(pruned["param_learning_rate"], pruned[metric], marker="x", color="grey",
                   label="pruned (last reported value)")
    ax.set_xscale("log")
    ax.xaxis.set_minor_formatter(NullFormatter())  # minor decade labels collide with the grid's
    rates = sorted(frame["param_learning_rate"].dropna().unique())
    if len(rates) <= 8:  # a grid: label its values
        ax.set_xticks(rates, [f"{rate:.0e}" for rate in rates])
    ax.set_xlabel("peak learning rate")
    ax.set_ylabel(metric)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(f"{metric} vs learning rate")
    save_figure(fig, path)
    return True


def plot_warmup_and_weight_decay(frame: pd.DataFrame, metric: str, path: Path) -> bool:
    done = completed(frame)
    params = [p for p in ("param_warmup_ratio", "param_weight_decay") if p in done and done[p].notna().any()]
    if done.empty or not params:
        return False
    fig, axes = plt.subplots(1, len(params), figsize=(5 * len(params), 3.8), squeeze=False)
    for ax, param in zip(axes[0], params):
        colour = np.log10(done["param_learning_rate"]) if "param_learning_rate" in done else None
        points = ax.scatter(done[param], done[metric], c=colour, cmap="viridis", s=25)
        means = done.groupby(param)[metric].mean()
        ax.plot(means.index, means.values, "k--", alpha=0.6, label="mean")
        if param == "param_weight_decay" and (done[param] > 0).all():
            ax.set_xscale("log")
        ax.set_xlabel(param.removeprefix("param_"))
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        if colour is not None:
            fig.colorbar(points, ax=ax, label="log10 learning rate")
    fig.suptitle(f"{metric} vs warmup and weight decay")
    save_figure(fig, path)
    return True


def plot_optimizer_schedule_heatmap(frame: pd.DataFrame, metric: str, path: Path) -> bool:
    done = completed(frame)
    if done.empty or not {"param_optimizer", "param_lr_scheduler"} <= set(done):
        return False
    table = done.pivot_table(index="param_optimizer", columns="param_lr_scheduler", values=metric, aggfunc="mean")
    fig, ax = plt.subplots(figsize=(1.6 + 1.4 * table.shape[1], 1.2 + 0.8 * table.shape[0]))
    image = ax.imshow(table.values, cmap="viridis", aspect="auto")
    for i in range(table.shape[0]):
        for j in range(table.shape[1]):
            value = table.values[i, j]
            ax.text(j, i, "–" if np.isnan(value) else f"{value:.3f}", ha="center", va="center", color="white")
    ax.set_xticks(range(table.shape[1]), table.columns)
    ax.set_yticks(range(table.shape[0]), table.index)
    ax.set_xlabel("schedule")
    ax.set_ylabel("optimizer")
    fig.colorbar(image, ax=ax, label=f"mean {metric}")
    ax.set_title("optimizer x schedule")
    save_figure(fig, path)
    return True


def plot_param_importances(study, path: Path) -> Optional[dict]:
    """fANOVA importances of the searched parameters; None when they cannot be computed
    (fewer than two completed trials, or no parameter that varies)."""
    import optuna

    values = {t.value for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"}
    if len(values) == 1:  # no variance to attribute: say so instead of drawing nothing
        fig, ax = plt.subplots(figsize=(6, 1.2))
        ax.axis("off")
        ax.text(0.5, 0.5, "importances undefined: every completed trial scored the same", ha="center", va="center")
        save_figure(fig, path)
        return {}
    try:
        # fANOVA, named and seeded: Optuna's default evaluator has changed between versions.
        evaluator = optuna.importance.FanovaImportanceEvaluator(seed=0)
        importances = optuna.importance.get_param_importances(study, evaluator=evaluator)
    except (RuntimeError, ValueError) as exc:
        print(f"no parameter importances: {exc}")
        return None
    if not importances:
        return None
    fig, ax = plt.subplots(figsize=(6, 0.6 + 0.45 * len(importances)))
    names = list(importances)[::-1]
    ax.barh(names, [importances[n] for n in names])
    ax.set_xlabel("importance (fANOVA, normalised)")
    ax.set_title("parameter importances")
    save_figure(fig, path)
    return importances


def draw_study_plots(study, frame: pd.DataFrame, metric: str, directory: Path) -> dict:
    """Draw every plot that applies; return {file name: drawn?} and the importances."""
    directory = Path(directory)
    drawn = {PLOTS[0]: plot_metric_vs_learning_rate(frame, metric, directory / PLOTS[0]),
             PLOTS[1]: plot_warmup_and_weight_decay(frame, metric, directory / PLOTS[1]),
             PLOTS[2]: plot_optimizer_schedule_heatmap(frame, metric, directory / PLOTS[2])}
    importances = plot_param_importances(study, directory / PLOTS[3])
    drawn[PLOTS[3]] = importances is not None
    return {"plots": drawn, "importances": importances}
