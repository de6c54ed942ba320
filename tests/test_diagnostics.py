"""Warnings a reader cannot miss, leak counts, cleaning on the generic data path, and the
split that keeps groups together."""
from __future__ import annotations

import json
from collections import Counter

import pandas as pd
import pytest

from common.diagnostics import count_leaks, diagnose, normalize_text, prediction_warnings
from common.errors import DataError
from common.text_data import load_text_file
from common.splits import Example, TextSplits, clean_published, split_by_group

NAMES = ["negative", "neutral", "positive"]


def test_prediction_warnings_from_a_confusion_matrix():
    collapsed = [[0, 6, 0], [0, 13, 0], [0, 5, 0]]  # every example predicted neutral
    warnings = prediction_warnings(collapsed, NAMES, "test")
    assert warnings[0] == "the model predicts 'neutral' for 100% of the 24 test examples: it has collapsed to " \
                          "(nearly) one class"
    assert "never predicts 'negative', 'positive'" in warnings[1]
    assert "fewer than 10 examples of 'negative' (6), 'positive' (5)" in warnings[2]
    healthy = [[20, 2, 1], [3, 40, 2], [1, 2, 30]]
    assert prediction_warnings(healthy, NAMES, "test") == []


def test_a_group_labelled_with_one_class_is_a_warning():
    """Pooled scores can hide a language whose every row gets one label (an English-only
    tokenizer on Arabic tweets): the per-group scores carry the commonest prediction's share."""
    import numpy as np

    from common.evaluation import score_groups

    names = ["negative", "neutral", "positive"]
    examples = [Example("t", i % 3, group="english") for i in range(30)] + \
               [Example("t", i % 3, group="arabic") for i in range(30)]
    logits = np.zeros((60, 3))
    logits[np.arange(30), [i % 3 for i in range(30)]] = 1  # English: right
    logits[30:, 2] = 1  # Arabic: always positive
    groups = score_groups(examples, logits, names)
    assert groups["arabic"]["top_prediction"] == {"label": "positive", "share": 1.0}
    warnings = diagnose({"groups": {"test": groups}}, names)
    assert len(warnings) == 1
    assert "'arabic' rows of the test split the model predicts 'positive' for 100%" in warnings[0]
    groups["arabic"]["n"] = 5  # too few rows to call it a collapse
    assert diagnose({"groups": {"test": groups}}, names) == []


def test_leaks_exact_and_up_to_case_and_spaces():
    train = [Example("Sales rose.", 2), Example("Profit fell", 0)]
    val = [Example("sales  ROSE.", 2), Example("new text", 1)]
    test = [Example("Profit fell", 0), Example("other", 1), Example("Sales rose.", 2)]
    leaks = count_leaks(TextSplits(NAMES, train, val, test))
    assert leaks == {"val": {"n": 2, "exact": 0, "normalized": 1}, "test": {"n": 3, "exact": 2, "normalized": 2}}
    assert normalize_text(" A \t b ") == "a b"
    warnings = diagnose({}, NAMES, {"leaks": leaks})
    assert warnings == ["1 of the 2 val examples also occur in the train split (0 exactly, the rest up to case and "
                        "spaces): their scores measure memory, not generalisation",
                        "2 of the 3 test examples also occur in the train split (2 exactly, the rest up to case and "
                        "spaces): their scores measure memory, not generalisation"]


def test_pairs_that_share_their_text_with_train_are_counted_apart():
    train = [Example("Shell cuts dividend", 0, pair="Shell"), Example("Oil rises", 2, pair="BP")]
    test = [Example("Shell cuts dividend", 1, pair="BP"),  # the same headline, another aspect
            Example("Oil rises", 2, pair="BP"), Example("new", 1, pair="BP")]
    leaks = count_leaks(TextSplits(NAMES, train, [Example("x", 1, pair="y")], test))
    assert leaks["test"] == {"n": 3, "exact": 1, "normalized": 1, "shared_text": 1}
    assert leaks["val"] == {"n": 1, "exact": 0, "normalized": 0, "shared_text": 0}
    assert diagnose({}, NAMES,
                    {"leaks": leaks})[1].startswith("1 of the 3 test examples share their text with a train example "
                                                    "of another pair")


def test_published_splits_are_cleaned_with_the_test_split_kept():
    splits = {"train": [Example("a", 0), Example("a", 0), Example("b", 1), Example("t", 2), Example("c", 0)],
              "val": [Example("b", 1), Example("v", 1)],
              "test": [Example("t", 2), Example("c", 1)]}  # "c" is filed under two labels
    cleaned, stats = clean_published(splits)
    assert [e.text for e in cleaned["test"]] == ["t", "c"]  # as published
    assert [e.text for e in cleaned["val"]] == ["b", "v"]
    assert [e.text for e in cleaned["train"]] == ["a"]  # "b" is in val, "t" in test, "c" conflicts, one "a" repeats
    assert stats["train"] == {"raw": 5, "duplicates_removed": 1, "held_out_copies_dropped": 2,
                              "conflicting_dropped": 1, "clean": 1}


def test_split_by_group_keeps_each_group_in_one_split():
    examples = [Example(f"sentence {g} in {lang}", g % 3, group=lang, split_group=str(g))
                for g in range(60) for lang in ("en", "ko")]
    splits = split_by_group(examples, seed=0, source="x")
    where = {}
    for name, part in splits.items():
        for example in part:
            assert where.setdefault(example.split_group, name) == name  # a translation follows its source
    assert sorted(map(len, splits.values())) == [12, 12, 96]
    assert set(Counter(e.label for e in splits["test"])) == {0, 1, 2}
    with pytest.raises(DataError, match="5 split groups; an 80/10/10 split by group needs at least 10"):
        split_by_group(examples[:10], seed=0, source="x")


def test_generic_file_is_deduplicated_and_grouped(tmp_path):
    rows = [{"text": f"symptom {i % 40}", "label": f"d{i % 40 % 4}", "patient": f"p{i % 40 // 2}"} for i in range(80)]
    rows.append({"text": "symptom 3", "label": "d0", "patient": "p1"})  # the same text under another label
    pd.DataFrame(rows).to_csv(tmp_path / "symptoms.csv", index=False)
    splits = load_text_file(tmp_path / "symptoms.csv", split_group_column="patient", split_column=None)
    assert splits.info["cleaning"] == {"raw": 81, "duplicates_removed": 41, "conflicting_texts_dropped": 1,
                                       "clean": 39}
    texts = [e.text for part in (splits.train, splits.val, splits.test) for e in part]
    assert len(texts) == len(set(texts)) == 39 and "symptom 3" not in texts
    assert not count_leaks(splits)["test"]["normalized"]


def test_an_ignored_sentence_id_of_translations_is_a_warning(tmp_path):
    rows = [{"id": f"s{i}", "lang": lang, "text": f"sentence {i} in {lang}", "label": NAMES[i % 3], "note": "x"}
            for i in range(40) for lang in ("en", "ko")]
    pd.DataFrame(rows).to_csv(tmp_path / "translated.csv", index=False)
    stratified = load_text_file(tmp_path / "translated.csv", group_column="lang", split_column=None)
    assert stratified.info["unused_split_groups"] == {"id": {"rows": 80, "values": 40, "group_column": "lang"}}
    [warning] = diagnose({}, NAMES, stratified.info)
    assert warning.startswith("column 'id' looks like the id of rows that belong together (80 rows share 40 values")
    assert "set split_group_column id" in warning
    grouped = load_text_file(tmp_path / "translated.csv", group_column="lang", split_group_column="id",
                             split_column=None)
    assert "unused_split_groups" not in grouped.info and diagnose({}, NAMES, grouped.info) == []


def test_a_run_records_and_prints_its_warnings(tmp_path, tiny_config, capsys):
    from phase1_financial_phrasebank.train import main

    rows = ([{"text": f"nokia net profit rose {i} percent", "label": "positive", "split": "train"} for i in range(20)]
            + [{"text": f"kone cut {i} jobs", "label": "negative", "split": "train"} for i in range(20)]
            + [{"text": f"nokia net profit rose {i} percent", "label": "positive", "split": "test"} for i in range(3)]
            + [{"text": f"kone cut {i} jobs", "label": "negative", "split": "test"} for i in range(20, 23)]
            + [{"text": f"nokia net profit rose {i} percent", "label": "positive", "split": "validation"}
               for i in range(50, 53)]
            + [{"text": f"kone cut {i} jobs", "label": "negative", "split": "validation"} for i in range(60, 63)])
    pd.DataFrame(rows).to_csv(tmp_path / "leaky.csv", index=False)
    run_dir = main(tiny_config(data_dir=str(tmp_path), dataset="leaky.csv", deduplicate=False, epochs=1))
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["data"]["leaks"]["test"] == {"n": 6, "exact": 3, "normalized": 3}
    leak = "3 of the 6 test examples also occur in the train split"
    assert any(w.startswith(leak) for w in metrics["warnings"])
    assert "WARNING: " + leak in capsys.readouterr().out
    assert any("fewer than 10 examples" in w for w in metrics["warnings"])  # 3 of each class in test
    # cleaned as by default, train loses its copies of the held-out texts: nothing leaks
    clean = main(tiny_config(data_dir=str(tmp_path), dataset="leaky.csv", epochs=1, run_name="clean"))
    cleaned = json.loads((clean / "metrics.json").read_text())
    assert cleaned["data"]["leaks"]["test"]["normalized"] == 0
    assert cleaned["data"]["cleaning"]["train"]["held_out_copies_dropped"] == 3


def test_token_figures_per_split_and_group(phase2_config):
    from common.batching import token_statistics
    from common.models import load_tokenizer
    from phase2_multilingual_sentiment.train import main

    run_dir = main(phase2_config(epochs=1))
    tokens = json.loads((run_dir / "metrics.json").read_text())["data"]["tokens"]
    assert set(tokens) == {"train", "val", "test"} and set(tokens["test"]["groups"]) == {"english", "french", "german"}
    tokenizer = load_tokenizer(phase2_config().model_name_or_path)
    unreadable = token_statistics(tokenizer, ["ΑΒΓ ΔΕΖ", "good"], None, max_length=4)
    assert unreadable["n"] == 2 and unreadable["unknown_token_rate"] > 0  # Greek is not in the tiny vocabulary
    ids = tokenizer(["ΑΒΓ ΔΕΖ", "good"])["input_ids"]
    assert unreadable["mean_tokens"] == sum(map(len, ids)) / 2
    assert unreadable["truncated"] == sum(len(row) > 4 for row in ids) / 2
