from collections import Counter

import pytest

from common.errors import DataError
from phase1_financial_phrasebank.data import (LABELS, SPLITS, deduplicate, load_phrasebank,
                                              parse_phrasebank, read_level_files, read_level_zip)
from phase1_financial_phrasebank.synthetic import synthetic_phrasebank, write_phrasebank

LEVELS = ("50Agree", "66Agree", "75Agree", "AllAgree")


def test_parser_reads_sentence_and_label():
    assert parse_phrasebank(["A deal @ EUR 5 mn .@positive\r\n", "\n", "Sales fell .@NEGATIVE"], "f") == [
        ("A deal @ EUR 5 mn .", "positive"), ("Sales fell .", "negative")]


@pytest.mark.parametrize("lines, match", [
    (["ok .@neutral", "no label here"], r"f.txt, line 2: malformed line"),
    (["ok .@neutral", "", "bad .@bullish"], r"f.txt, line 3: unknown label 'bullish' \(expected one of negative"),
    (["@positive"], r"f.txt, line 1: malformed line"),
    ([], r"f.txt: no sentences found"),
])
def test_parser_errors_name_file_and_line(lines, match):
    with pytest.raises(DataError, match=match):
        parse_phrasebank(lines, "f.txt")


def test_missing_directory_lists_expected_files(tmp_path):
    with pytest.raises(DataError, match="does not exist; expected .*Sentences_50Agree.txt.*Sentences_AllAgree.txt"):
        read_level_files(tmp_path / "nowhere")


def test_missing_file_is_named(tmp_path):
    levels = synthetic_phrasebank()
    del levels["75Agree"]
    with pytest.raises(DataError, match="lacks Sentences_75Agree.txt"):
        read_level_files(write_phrasebank(tmp_path, levels))


def test_deduplicate_drops_conflicts_and_counts():
    clean, stats = deduplicate([("a", "neutral"), ("b", "positive"), ("a", "neutral"), ("c", "neutral"),
                                ("c", "positive")])
    assert clean == [("a", "neutral"), ("b", "positive")]
    assert stats["duplicates_removed"] == 2 and stats["conflicting_sentences_dropped"] == 1
    assert stats["label_counts"] == {"neutral": 1, "positive": 1}


def test_split_is_disjoint_stratified_and_shared_by_levels(phrasebank_dir):
    bank = load_phrasebank(str(phrasebank_dir), split_seed=3)
    assert bank.cleaning["50Agree"]["conflicting_sentences_dropped"] == 1
    assert bank.cleaning["50Agree"]["duplicates_removed"] == 2  # extra copies: one repeat, one conflicting copy
    assert bank.cleaning["50Agree"]["raw"] - bank.cleaning["50Agree"]["clean"] == 3
    for level in LEVELS:
        parts = {split: {s for s, _ in bank.split(level, split)} for split in SPLITS}
        assert not parts["train"] & parts["val"] and not parts["train"] & parts["test"]
        assert not parts["val"] & parts["test"]
        assert sum(map(len, parts.values())) == len(bank.levels[level])
    # every sentence has one split whatever the level; no level's test sentence is in any train split
    all_train = {s for level in LEVELS for s, _ in bank.split(level, "train")}
    all_test = {s for level in LEVELS for s, _ in bank.split(level, "test")}
    assert not all_train & all_test
    full = bank.levels["50Agree"]
    n = len(bank.split_of)
    assert abs(sum(v == "train" for v in bank.split_of.values()) - 0.8 * n) <= 1
    overall = Counter(label for _, label in full)
    for split in SPLITS:
        counts = Counter(label for _, label in bank.split("50Agree", split))
        for label in LABELS:  # stratified: each split keeps the label shares (up to rounding)
            assert abs(counts[label] / sum(counts.values()) - overall[label] / len(full)) < 0.05


def test_split_depends_on_split_seed_only(phrasebank_dir):
    a = load_phrasebank(str(phrasebank_dir), split_seed=1).split_of
    assert a == load_phrasebank(str(phrasebank_dir), split_seed=1).split_of
    assert a != load_phrasebank(str(phrasebank_dir), split_seed=2).split_of


def test_bad_zip_is_a_clear_error(tmp_path):
    (tmp_path / "x.zip").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="not a readable zip file"):
        read_level_zip(tmp_path / "x.zip")


def test_split_rejects_a_data_set_too_small(tmp_path):
    levels = {level: ["Sales rose .@positive", "Sales fell .@negative"] for level in LEVELS}
    with pytest.raises(DataError, match="too few sentences for a stratified 80/10/10 split"):
        load_phrasebank(str(write_phrasebank(tmp_path, levels)), 0)


# --- the real Financial PhraseBank, through DATA_DIR -------------------------------------------

EXPECTED = {"50Agree": 4846, "66Agree": 4217, "75Agree": 3453, "AllAgree": 2264}


@pytest.fixture(scope="module")
def real_levels(real_data_dir):
    return read_level_files(real_data_dir / "financial_phrasebank")


def test_real_counts_and_labels(real_levels):
    assert {level: len(pairs) for level, pairs in real_levels.items()} == EXPECTED
    assert Counter(label for _, label in real_levels["50Agree"]) == {"neutral": 2879, "positive": 1363, "negative": 604}
    assert Counter(label for _, label in real_levels["AllAgree"]) == {"neutral": 1391, "positive": 570, "negative": 303}


def test_real_levels_are_nested(real_levels):
    for lower, higher in zip(LEVELS, LEVELS[1:]):
        assert {s for s, _ in real_levels[higher]} <= {s for s, _ in real_levels[lower]}


def test_real_split_is_leakage_free(real_data_dir):
    bank = load_phrasebank(str(real_data_dir / "financial_phrasebank"), split_seed=42)
    assert bank.cleaning["50Agree"]["conflicting_sentences_dropped"] == 2
    test_sentences = {s for level in LEVELS for s, _ in bank.split(level, "test")}
    train_sentences = {s for level in LEVELS for s, _ in bank.split(level, "train")}
    assert not test_sentences & train_sentences
    sizes = {split: len(bank.split("50Agree", split)) for split in SPLITS}
    assert sizes["train"] / sum(sizes.values()) == pytest.approx(0.8, abs=0.01)
