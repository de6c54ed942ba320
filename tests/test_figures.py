"""Figures are bounded, legible and never cost a run its records: a confusion matrix of 131
classes stays a heat map of bounded size (TensorBoard takes it); tick labels do not overlap
(checked with matplotlib's own extents); attention maps leave out special tokens and label
every token; a figure that fails becomes a warning in the output and metrics.json while the
run finishes with its card."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
from PIL import Image

from common.plots import MAX_FIGURE_INCHES, plot_confusion_matrix


def test_a_confusion_matrix_of_131_classes_has_a_bounded_size(tmp_path):
    names = [f"Corporate/Aspect path number {i}/Level three" for i in range(131)]
    matrix = np.random.default_rng(0).integers(0, 5, size=(131, 131))
    plot_confusion_matrix(matrix, names, tmp_path / "cm.png", title="131 classes")
    width, height = Image.open(tmp_path / "cm.png").size
    assert max(width, height) <= (MAX_FIGURE_INCHES + 2) * 120  # bbox_inches may add the tick labels' margin
    # few classes: counts in the cells and long names wrapped, not one overlapping string
    plot_confusion_matrix([[5, 1], [2, 7]], ["Neoplasms", "Diseases of the nervous system"], tmp_path / "two.png")
    assert Image.open(tmp_path / "two.png").size[0] < 1000


def test_131_classes_train_and_log_to_tensorboard(tiny_config, tmp_path):
    from phase1_financial_phrasebank.train import main

    rng = np.random.default_rng(0)
    rows = [{"text": f"sentence {i} about topic {label} and {rng.integers(1000)}", "label": f"path/{label}"}
            for label in range(131) for i in range(10)]
    pd.DataFrame(rows).to_csv(tmp_path / "aspects.csv", index=False)
    run_dir = main(tiny_config(data_dir=str(tmp_path), dataset="aspects.csv", epochs=1, max_steps=2,
                               report_to=["tensorboard"]))
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert len(metrics["labels"]) == 131 and not [w for w in metrics["warnings"] if "not drawn" in w]
    assert max(Image.open(run_dir / "confusion_matrix.png").size) <= (MAX_FIGURE_INCHES + 2) * 120
    assert (run_dir / "checkpoints" / "best" / "README.md").exists()


def test_a_figure_that_fails_is_a_warning_and_the_run_keeps_its_records(tiny_config, monkeypatch, capsys):
    import sklearn.metrics

    from phase1_financial_phrasebank.train import main

    def broken(self, *args, **kwargs):
        raise MemoryError("no room for the figure")

    monkeypatch.setattr(sklearn.metrics.ConfusionMatrixDisplay, "plot", broken)
    run_dir = main(tiny_config(epochs=1, report_to=["tensorboard"]))
    metrics = json.loads((run_dir / "metrics.json").read_text())
    expected = "figure confusion_matrix.png was not drawn (MemoryError: no room for the figure)"
    assert expected in metrics["warnings"] and f"WARNING: {expected}" in capsys.readouterr().out
    assert "test_f1_macro" in metrics and (run_dir / "predictions.csv").exists()
    assert (run_dir / "checkpoints" / "best" / "README.md").exists() and (run_dir / "learning_curves.png").exists()
    assert not (run_dir / "confusion_matrix.png").exists()


def test_a_tracker_that_fails_at_the_end_is_a_warning(tiny_config, monkeypatch):
    from common.tracking import Trackers
    from phase1_financial_phrasebank.train import main

    def refuse(self, paths, step):
        raise OSError("the tracking server went away")

    monkeypatch.setattr(Trackers, "log_images", refuse)
    run_dir = main(tiny_config(epochs=1, report_to=["tensorboard"]))
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert any("the trackers (tensorboard) did not take the final scores" in w and "went away" in w
               for w in metrics["warnings"])
    assert (run_dir / "checkpoints" / "best" / "README.md").exists()



def tick_labels_overlap(fig, ax, axis: str = "x") -> bool:
    """Whether any two non-empty tick labels of `ax` overlap once drawn (matplotlib's own extents)."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    labels = ax.get_xticklabels() if axis == "x" else ax.get_yticklabels()
    boxes = [label.get_window_extent(renderer) for label in labels if label.get_text()]
    return any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])


def capture(monkeypatch, module) -> list:
    figures = []
    monkeypatch.setattr(module, "save_figure", lambda fig, path: figures.append(fig))
    return figures


def test_confusion_matrix_tick_labels_do_not_overlap(monkeypatch):
    import common.plots

    figures = capture(monkeypatch, common.plots)
    names = ["Neoplasms", "Digestive system diseases", "Nervous system diseases", "Cardiovascular diseases",
             "General pathological conditions"]
    plot_confusion_matrix(np.eye(5, dtype=int) * 20 + 1, names, "cm.png")
    (fig,) = figures
    assert not tick_labels_overlap(fig, fig.axes[0], "x") and not tick_labels_overlap(fig, fig.axes[0], "y")


def test_attention_maps_leave_out_special_tokens_and_label_every_token(monkeypatch):
    import torch

    import phase4_medical_text_xai.attention as attention

    figures = capture(monkeypatch, attention)
    tokens = ["<s>", *[f"Ġword{i}" for i in range(40)], "</s>"]  # byte-level BPE's word-start marker
    special = [True] + [False] * 40 + [True]
    attentions = torch.rand(2, 2, len(tokens), len(tokens))
    attention.plot_attention(attentions, np.random.rand(len(tokens)), tokens, "a.png", "Example 0", special=special)
    (fig,) = figures
    rollout_axes = next(ax for ax in fig.axes if ax.get_ylabel() == "rollout")  # the bottom panel, labelled
    shown = [label.get_text() for label in rollout_axes.get_xticklabels()]
    assert shown == [f"word{i}" for i in range(40)]
    assert "2 special tokens left out" in fig.axes[0].get_title()
    assert not tick_labels_overlap(fig, rollout_axes)


def legend_hides_a_point(fig) -> bool:
    """Whether a legend's box (matplotlib's extents, once drawn) covers a plotted point of any axes."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    legends = [ax.get_legend() for ax in fig.axes if ax.get_legend()] + list(fig.legends)
    boxes = [legend.get_window_extent(renderer) for legend in legends]
    for ax in fig.axes:
        for line in ax.get_lines():
            for x, y in ax.transData.transform(line.get_xydata()):
                if any(box.contains(x, y) for box in boxes):
                    return True
        for patch in ax.patches:  # bars
            corners = patch.get_window_extent(renderer)
            if any(box.overlaps(corners) for box in boxes):
                return True
    return bool(not boxes)  # a figure kind with a legend must have drawn it


def test_no_legend_hides_data(monkeypatch):
    import common.plots
    import phase4_medical_text_xai.plots as phase4_plots

    figures = capture(monkeypatch, common.plots)
    phase4_figures = capture(monkeypatch, phase4_plots)
    collapsed = [{"epoch": 1, "train_loss": 1.1, "val_loss": 1.09, "val_accuracy": 0.33, "val_f1_macro": 0.17}]
    common.plots.plot_learning_curves(collapsed, "lc.png", before={"before_val_f1_macro": 0.2,
                                                                   "before_val_accuracy": 0.3})
    scores = {name: {lang: {"f1_macro": 0.9} for lang in ("arabic", "english", "french", "german", "hindi")}
              for name in ("model a: run_seed*", "model b: run_seed*", "model c: run_seed*")}
    common.plots.plot_group_scores(scores, "groups.png")
    common.plots.plot_predicted_scores([0.1, 0.5, 0.9], [0.2, 0.5, 0.8], "scores.png")
    curve = [1.0, 0.9, 0.8, 0.7, 0.6, 0.55]
    summary = {m: {"deletion_curve": curve, "insertion_curve": curve[::-1]} for m in ("ig", "lrp", "random")}
    phase4_plots.plot_faithfulness_curves({"summary": summary, "fractions": [0, .2, .4, .6, .8, 1], "run": "r",
                                           "n": 3}, "faith.png")
    assert len(figures) == 3 and len(phase4_figures) == 1
    for fig in figures + phase4_figures:
        assert not legend_hides_a_point(fig), fig.axes[0].get_title() or fig._suptitle.get_text()
    # the one-epoch run's score panel starts at the untrained model's epoch 0
    score_ax = figures[0].axes[1]
    assert [list(line.get_xdata()) for line in score_ax.get_lines()] == [[0, 1], [0, 1]]
