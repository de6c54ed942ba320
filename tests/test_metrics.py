import numpy as np
import pytest
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

from common.metrics import compute_metrics, prefix_metrics

LABELS = ["negative", "neutral", "positive"]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_metrics_equal_sklearn_on_random_data(seed):
    rng = np.random.default_rng(seed)
    y_true, y_pred = rng.integers(0, 3, 500), rng.integers(0, 3, 500)
    m = compute_metrics(y_true, y_pred, LABELS)
    assert m["accuracy"] == pytest.approx(accuracy_score(y_true, y_pred))
    assert m["f1_macro"] == pytest.approx(f1_score(y_true, y_pred, average="macro"))
    assert m["f1_weighted"] == pytest.approx(f1_score(y_true, y_pred, average="weighted"))
    precision, recall, f1, support = precision_recall_fscore_support(y_true, y_pred, labels=[0, 1, 2])
    for i, name in enumerate(LABELS):
        assert m["per_class"][name]["precision"] == pytest.approx(precision[i])
        assert m["per_class"][name]["recall"] == pytest.approx(recall[i])
        assert m["per_class"][name]["f1-score"] == pytest.approx(f1[i])
        assert m["per_class"][name]["support"] == support[i]
    assert m["confusion_matrix"] == confusion_matrix(y_true, y_pred).tolist()
    assert m["n"] == 500


def test_absent_class_is_reported_but_not_averaged():
    m = compute_metrics([1, 1, 2, 2], [1, 2, 2, 2], LABELS)
    assert m["per_class"]["negative"]["support"] == 0
    assert m["per_class"]["negative"]["recall"] == 0.0
    # neither in the split nor predicted: no F1 to average (scikit-learn's own default)
    assert m["f1_macro"] == pytest.approx(f1_score([1, 1, 2, 2], [1, 2, 2, 2], average="macro"))
    assert m["f1_macro"] > f1_score([1, 1, 2, 2], [1, 2, 2, 2], labels=[0, 1, 2], average="macro", zero_division=0)
    assert len(m["confusion_matrix"]) == 3


def test_a_predicted_class_absent_from_the_split_counts_with_f1_zero():
    m = compute_metrics([1, 1, 2, 2], [0, 1, 2, 2], LABELS)
    assert m["f1_macro"] == pytest.approx(f1_score([1, 1, 2, 2], [0, 1, 2, 2], labels=[0, 1, 2], average="macro",
                                                   zero_division=0))


def test_prefix_flattens_per_class_recall():
    m = compute_metrics([0, 1, 2, 0], [0, 1, 1, 1], LABELS)
    flat = prefix_metrics(m, "test")
    assert flat["test_accuracy"] == 0.5
    assert flat["test_recall_negative"] == 0.5
    assert flat["test_recall_positive"] == 0.0
    assert flat["test_confusion_matrix"] == m["confusion_matrix"]


def test_mcc_is_scikit_learns_and_quiet_for_one_class():
    import warnings

    from sklearn.metrics import matthews_corrcoef

    rng = np.random.default_rng(0)
    for classes in (2, 3):
        truth = rng.integers(0, classes, 400)
        predictions = np.where(rng.random(400) < 0.6, truth, rng.integers(0, classes, 400))
        names = [str(i) for i in range(classes)]
        assert compute_metrics(truth, predictions, names)["mcc"] == pytest.approx(matthews_corrcoef(truth, predictions))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # scikit-learn's own warns about a single label
        assert compute_metrics([1, 1, 1], [1, 1, 1], ["a", "b"])["mcc"] == 0.0
