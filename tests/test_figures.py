"""Figures are bounded and never cost a run its records: a confusion matrix of 131 classes
stays a readable heat map of bounded size (TensorBoard takes it), and a figure that fails
becomes a warning in the output and metrics.json while the run finishes with its card."""
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

