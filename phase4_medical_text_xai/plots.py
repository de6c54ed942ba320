"""Phase 4 figures: mean deletion and insertion curves of each explanation method."""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from common.plots import save_figure  # also selects the headless backend
from phase4_medical_text_xai.html_report import METHOD_TITLES


def plot_faithfulness_curves(result: dict, path: Path, title: str = "") -> None:
    """Two panels: probability of the explained class as the top-ranked tokens are
    deleted (lower is better) and inserted (higher is better)."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for method, entry in result["summary"].items():
        style = {"linestyle": "--", "color": "grey"} if method == "random" else {}
        for ax, curve in zip(axes, ("deletion_curve", "insertion_curve")):
            ax.plot(result["fractions"], entry[curve], marker="o", markersize=3,
                    label=METHOD_TITLES.get(method, method), **style)
    axes[0].set(title="Deletion (lower is better)", xlabel="fraction of tokens masked, most relevant first",
                ylabel="probability of the explained class")
    axes[1].set(title="Insertion (higher is better)", xlabel="fraction of tokens revealed, most relevant first")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.set_ylim(0, 1.02)
    handles, labels = axes[0].get_legend_handles_labels()  # under both panels: it hides no curve
    fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=len(labels), fontsize=8,
               frameon=False)
    fig.suptitle(title or f"{result['run']}: faithfulness over {result['n']} test examples")
    save_figure(fig, path)
