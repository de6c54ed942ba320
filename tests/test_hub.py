"""Every hub source, read through the real library calls on replicas of its real layout;
the preflight check (`reproduce --check`) against the cache replica and offline."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import datasets
import pytest

from common.errors import DataError
from common.hub import CacheResolver, HubRef, Listing, check_listing, human_bytes, resolve_refs
from common import REPO_ROOT
from common.text_data import load_hub_dataset
from phase1_financial_phrasebank.data import fetch_hub_zip, load_phrasebank
from phase2_multilingual_sentiment.data import HUB_REVISION, load_tweet_hub
from phase4_medical_text_xai.data import load_medical_hub
from tests.hub_replicas import (CONDITION_NAMES, cache_model_dir, cache_phrasebank, write_cached_repo,
                                write_medical_abstracts_repo, write_pushed_dataset, write_tweet_parquet_branch)

TWEET_SIZES = {"train": 9, "validation": 6, "test": 6}


@pytest.fixture(scope="module")
def tweet_branch(tmp_path_factory) -> Path:
    return write_tweet_parquet_branch(tmp_path_factory.mktemp("tsm_parquet"), ["english", "french", "german"],
                                      TWEET_SIZES)


def offline_env(**extra) -> dict:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO_ROOT), **extra}


# --- phase 2: the parquet branch of cardiffnlp/tweet_sentiment_multilingual ---------------------

def test_the_replica_has_the_hub_branch_traps(tweet_branch):
    """What the old loader met on the hub: no config per language, and `default` counts each tweet twice."""
    with pytest.raises(ValueError, match="BuilderConfig 'english' not found. Available: \\['default'\\]"):
        datasets.load_dataset(str(tweet_branch), "english", revision=HUB_REVISION)
    mixed = datasets.load_dataset(str(tweet_branch), revision=HUB_REVISION)
    assert len(mixed["train"]) == 2 * 3 * TWEET_SIZES["train"]


def test_tweet_hub_loader_reads_each_language_once(tweet_branch):
    parts = load_tweet_hub(["english", "french"], source=str(tweet_branch))
    for split, hub_split in (("train", "train"), ("val", "validation"), ("test", "test")):
        assert Counter(e.group for e in parts[split]) == {"english": TWEET_SIZES[hub_split],
                                                          "french": TWEET_SIZES[hub_split]}
    english = [e for e in parts["train"] if e.group == "english"]
    assert [e.text for e in english] == [f"english train tweet {i}" for i in range(TWEET_SIZES["train"])]
    assert [e.label for e in english] == [i % 3 for i in range(TWEET_SIZES["train"])]


def test_tweet_hub_loader_refuses_another_label_order(tmp_path):
    branch = write_tweet_parquet_branch(tmp_path, ["english"], TWEET_SIZES, ["positive", "neutral", "negative"])
    with pytest.raises(DataError, match="label names are \\['positive', 'neutral', 'negative'\\], expected"):
        load_tweet_hub(["english"], source=str(branch))


def test_tweet_hub_loader_names_a_missing_language(tweet_branch):
    with pytest.raises(DataError, match="could not load .*folder spanish/"):
        load_tweet_hub(["spanish"], source=str(tweet_branch))


# --- phase 4: TimSchopf/medical_abstracts, its default and labels configs ------------------------

@pytest.mark.parametrize("first_id", [1, 0])
def test_medical_hub_loader_names_labels_from_the_labels_config(tmp_path, first_id):
    train = [(i % 5, f"abstract {i} about condition {i % 5}") for i in range(100)]
    test = [(i % 5, f"held-out abstract {i}") for i in range(25)] + [(0, "abstract 3 about condition 3")]
    repo = write_medical_abstracts_repo(tmp_path / "medical", train, test, first_id=first_id)
    splits = load_medical_hub(split_seed=0, dedupe=True, source=str(repo))
    assert splits.label_names == CONDITION_NAMES
    # the published test split is kept; a text filed under two conditions is dropped everywhere
    assert sorted(e.text for e in splits.test) == sorted(t for _, t in test[:25])
    assert len(splits.train) + len(splits.val) == 99
    by_text = {e.text: splits.label_names[e.label] for e in splits.train + splits.val + splits.test}
    assert by_text["abstract 7 about condition 2"] == CONDITION_NAMES[2]
    assert splits.info["cleaning"]["conflicting_texts_dropped"] == 1


# --- phase 1: takala/financial_phrasebank, the release zip through hf_hub_download ----------------

def test_phrasebank_zip_comes_from_the_hub_cache(tmp_path, phrasebank_dir):
    cache = tmp_path / "hub"
    cache_phrasebank(cache, phrasebank_dir)
    zip_path = fetch_hub_zip(cache_dir=cache)  # the real call, answered offline from the cache
    assert zip_path.name == "FinancialPhraseBank-v1.0.zip"
    from_hub = load_phrasebank(None, split_seed=0, zip_path=zip_path)
    from_dir = load_phrasebank(str(phrasebank_dir), split_seed=0)
    assert from_hub.levels == from_dir.levels and from_hub.split_of == from_dir.split_of


def test_phrasebank_absent_from_the_cache_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="could not download data/FinancialPhraseBank-v1.0.zip from the hub dataset "
                                        "takala/financial_phrasebank.*pass --data_dir"):
        fetch_hub_zip(cache_dir=tmp_path)


def test_main_job_step_runs_by_hub_ids_from_a_replica_cache(tmp_path, phrasebank_dir, tiny_model_dir):
    """`phase1 train --preset distilbert` exactly as a user runs it: hub model and data ids,
    resolved by transformers and huggingface_hub from a cache replica."""
    cache = tmp_path / "hub"
    cache_phrasebank(cache, phrasebank_dir)
    cache_model_dir(cache, "distilbert/distilbert-base-uncased", tiny_model_dir)
    out = tmp_path / "runs"
    result = subprocess.run([sys.executable, "-m", "phase1_financial_phrasebank.train", "--preset", "distilbert",
                             "--epochs", "1", "--max_length", "32", "--output_dir", str(out), "--device", "cpu",
                             "--progress", "false"], cwd=tmp_path, env=offline_env(HF_HUB_CACHE=str(cache)),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    run_dir = out / "phase1_financial_phrasebank" / "distilbert_seed42"
    config = json.loads((run_dir / "config.json").read_text())
    assert config["config"]["model_name_or_path"] == "distilbert/distilbert-base-uncased"
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["data"]["source"] == "financial_phrasebank" and "test_f1_macro" in metrics
    assert metrics["head"] == "new head (the checkpoint has none)"


# --- any other hub data set, as push_to_hub lays it out ---------------------------------------------

def test_generic_hub_dataset_uses_class_names_and_carves_a_missing_split(tmp_path):
    features = datasets.Features({"sentence": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=["bad", "good"])})
    rows = {"sentence": [f"s{i}" for i in range(50)], "label": [i % 2 for i in range(50)]}
    test = {"sentence": [f"t{i}" for i in range(10)], "label": [i % 2 for i in range(10)]}
    repo = write_pushed_dataset(tmp_path / "reviews", {"train": rows, "test": test}, features)
    splits = load_hub_dataset(str(repo), text_column="sentence")
    assert splits.label_names == ["bad", "good"]
    assert [len(splits.train), len(splits.val), len(splits.test)] == [45, 5, 10]  # test kept, val carved from train
    assert splits.info["carved_from_train"] == ["val"]
    assert not {e.text for e in splits.train} & {e.text for e in splits.val}


def test_unreachable_hub_dataset_is_a_clear_error():
    with pytest.raises(DataError, match="could not load hub data set 'nobody/no-such-data'.*local CSV/JSONL"):
        load_hub_dataset("nobody/no-such-data")


# --- the preflight ------------------------------------------------------------------------------------

def test_check_listing_statuses_and_sizes():
    model = HubRef("org/model", "model")
    files = {"config.json": 500, "tokenizer.json": 2000, "model.safetensors": 10_000, "pytorch_model.bin": 12_000}
    assert check_listing(model, Listing(files)).download_bytes == 10_000  # safetensors preferred, .bin not fetched
    assert check_listing(HubRef("org/model", "model", weights=False), Listing(files)).download_bytes == 0
    no_weights = check_listing(model, Listing({"config.json": 1, "vocab.txt": 1}))
    assert no_weights.status == "missing" and "weights" in no_weights.detail
    gated = check_listing(model, Listing(files, gated="gated: accept its licence"))
    assert gated.status == "gated" and gated.download_bytes == 10_000
    unlisted = check_listing(model, Listing(gated="gated: accept its licence"))  # no file listing before access
    assert unlisted.status == "gated" and unlisted.detail == "gated: accept its licence"
    data = HubRef("org/data", "dataset", files=("english/train/*.parquet", "hindi/train/*.parquet"))
    partial = check_listing(data, Listing({"english/train/0000.parquet": 7}))
    assert partial.status == "missing" and partial.detail == "no hindi/train/*.parquet"


def test_check_resolves_the_plan_against_a_cache_replica(tmp_path, phrasebank_dir, tiny_model_dir, tweet_branch):
    cache = tmp_path / "hub"
    cache_phrasebank(cache, phrasebank_dir)
    cache_model_dir(cache, "distilbert/distilbert-base-uncased", tiny_model_dir)
    branch = {p.relative_to(tweet_branch).as_posix(): p for p in tweet_branch.rglob("*.parquet")}
    write_cached_repo(cache, "dataset", "cardiffnlp/tweet_sentiment_multilingual", branch,
                      revision="refs/convert/parquet")
    result = subprocess.run([sys.executable, "-m", "common.reproduce", "--check", "--phases", "1,2", "--cache_dir",
                             str(cache)], cwd=tmp_path, env=offline_env(), capture_output=True, text=True, timeout=300)
    lines = {line.split()[2]: line for line in result.stdout.splitlines() if line.split()[:1] in
             (["found"], ["missing"], ["gated"])}
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr[-2000:]
    zip_size = next((cache / "datasets--takala--financial_phrasebank").rglob("*.zip")).stat().st_size
    assert lines["takala/financial_phrasebank"].startswith("found")
    assert f"{human_bytes(zip_size)} of files" in lines["takala/financial_phrasebank"]
    assert lines["distilbert/distilbert-base-uncased"].startswith("found")
    # the replica holds three of the eight languages: the other five are named as missing
    tweets = lines["cardiffnlp/tweet_sentiment_multilingual@refs/convert/parquet"]
    assert tweets.startswith("missing") and "no arabic/train/*.parquet" in tweets and "english" not in tweets
    assert lines["FacebookAI/xlm-roberta-base"].startswith("missing") and "not in the cache" in \
        lines["FacebookAI/xlm-roberta-base"]
    assert "4 found" not in result.stdout and "missing" in result.stdout.splitlines()[-1]


def test_cache_resolver_sizes_are_the_files(tmp_path, tiny_model_dir):
    cache = tmp_path / "hub"
    cache_model_dir(cache, "org/tiny", tiny_model_dir)
    (result,) = resolve_refs([HubRef("org/tiny", "model", "test")], CacheResolver(cache))
    assert result.status == "found" and result.used_by == ["test"]
    assert result.download_bytes == (tiny_model_dir / "model.safetensors").stat().st_size


def test_check_offline_says_so_and_exits_non_zero(tmp_path):
    result = subprocess.run([sys.executable, "-m", "common.reproduce", "--check", "--phases", "4"], cwd=tmp_path,
                            env=offline_env(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "the hub cannot be reached" in result.stdout
    assert "dataset TimSchopf/medical_abstracts" in result.stdout and "model FacebookAI/roberta-base" in result.stdout
