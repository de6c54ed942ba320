"""A checkpoint's own classification head is never used under another label order, and a
checkpoint is not evaluated on data it is known to have been trained on."""
from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer, DistilBertConfig, pipeline

from common.errors import ConfigError
from common.known_overlap import check_known_overlap, known_overlap
from common.models import label_maps, load_classifier
from phase1_financial_phrasebank.train import main

DATA_ORDER = ["negative", "neutral", "positive"]
SENTENCES = ["nokia net profit rose 12 percent in the quarter .", "kone cut 40 jobs after sales fell .",
             "orion will publish its report on 3 may .", "sampo sales grew by 7 % and the outlook improved .",
             "the company neste has 900 shareholders .", "fiskars net loss widened to eur 5 mn ."]


def save_classifier(directory, tokenizer_dir, labels, seed=0):
    """A tiny DistilBERT classifier with a trained-looking head for `labels` (in that order)."""
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    torch.manual_seed(seed)
    config = DistilBertConfig(vocab_size=len(tokenizer), n_layers=2, dim=32, n_heads=2, hidden_dim=64,
                              max_position_embeddings=128, pad_token_id=0, **label_maps(labels))
    model = AutoModelForSequenceClassification.from_config(config)
    with torch.no_grad():  # a head far from its init, so that a head thrown away shows
        model.classifier.weight.normal_(0, 2.0)
        model.classifier.bias.copy_(torch.arange(len(labels), dtype=torch.float))
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def scores_by_name(model_dir) -> list[dict[str, float]]:
    classify = pipeline("text-classification", model=str(model_dir), device=-1, top_k=None)
    return [{row["label"]: round(row["score"], 5) for row in rows} for rows in classify(SENTENCES)]


def test_permuted_head_is_mapped_by_name(tmp_path, tiny_model_dir, capsys):
    finbert_order = ["positive", "negative", "neutral"]  # ProsusAI/finbert's id2label
    source = save_classifier(tmp_path / "finbert_like", tiny_model_dir, finbert_order)
    model = load_classifier(str(source), DATA_ORDER)
    assert model.config.id2label == dict(enumerate(DATA_ORDER))
    assert "mapped by label name" in model.config.head_origin and "mapped by label name" in capsys.readouterr().out
    model.save_pretrained(tmp_path / "loaded")
    AutoTokenizer.from_pretrained(source).save_pretrained(tmp_path / "loaded")
    # every sentence gets the same score for each label name as from the checkpoint itself
    expected = scores_by_name(source)
    assert scores_by_name(tmp_path / "loaded") == expected
    assert all(len(set(scores.values())) == 3 for scores in expected)  # so a wrong order could not pass


def test_same_order_is_kept_and_other_labels_get_a_new_head(tmp_path, tiny_model_dir):
    same = load_classifier(str(save_classifier(tmp_path / "same", tiny_model_dir, DATA_ORDER)), DATA_ORDER)
    assert same.config.head_origin.startswith("pretrained head kept") and "same order" in same.config.head_origin
    other = save_classifier(tmp_path / "other", tiny_model_dir, ["bad", "meh", "good"])
    fresh = load_classifier(str(other), DATA_ORDER)
    trained = AutoModelForSequenceClassification.from_pretrained(other)
    assert fresh.config.head_origin.startswith("new head") and "not the data's" in fresh.config.head_origin
    assert not torch.allclose(fresh.classifier.weight, trained.classifier.weight)
    assert fresh.classifier.weight.std() < 0.1  # the model's own init (normal, std 0.02), not the trained head
    assert torch.equal(fresh.distilbert.embeddings.word_embeddings.weight,
                       trained.distilbert.embeddings.word_embeddings.weight)  # the encoder is the checkpoint's


def test_head_of_another_size_and_new_policy_give_new_heads(tmp_path, tiny_model_dir):
    five = save_classifier(tmp_path / "stars", tiny_model_dir, ["1 star", "2 stars", "3 stars", "4 stars", "5 stars"])
    model = load_classifier(str(five), DATA_ORDER)
    assert model.classifier.out_features == 3 and "for 5 labels" in model.config.head_origin
    permuted = save_classifier(tmp_path / "permuted", tiny_model_dir, ["positive", "negative", "neutral"])
    model = load_classifier(str(permuted), DATA_ORDER, pretrained_head="new")
    assert "pretrained_head new" in model.config.head_origin
    assert not torch.allclose(model.classifier.weight,
                              AutoModelForSequenceClassification.from_pretrained(permuted).classifier.weight)


def test_phase1_run_records_the_head_it_used(tmp_path, tiny_config, tiny_model_dir):
    import json

    source = save_classifier(tmp_path / "finbert_like", tiny_model_dir, ["positive", "negative", "neutral"])
    run_dir = main(tiny_config(model_name_or_path=str(source), epochs=1))
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert "mapped by label name from the checkpoint's order ['positive', 'negative', 'neutral']" in metrics["head"]


# --- checkpoints known to have been trained on a data set ----------------------------------------

def test_known_overlap_pairs():
    assert "Financial PhraseBank" in known_overlap("ProsusAI/finbert", "financial_phrasebank")
    assert known_overlap("prosusai/FinBERT", "takala/financial_phrasebank")  # hub id, any case
    assert known_overlap("ProsusAI/finbert", "manifest.csv") is None
    assert known_overlap("distilbert/distilbert-base-uncased", "financial_phrasebank") is None


def test_finbert_on_phrasebank_stops_before_anything_is_made(tiny_config, tmp_path):
    cfg = tiny_config(model_name_or_path="ProsusAI/finbert")
    with pytest.raises(ConfigError, match="ProsusAI/finbert on financial_phrasebank: FinBERT was fine-tuned .*"
                                          "--allow_known_overlap true"):
        main(cfg)
    assert not (tmp_path / "runs").exists()


def test_allowed_overlap_is_said_aloud(capsys):
    check_known_overlap("ProsusAI/finbert", "financial_phrasebank", allowed=True)
    assert "warning: ProsusAI/finbert on financial_phrasebank" in capsys.readouterr().out
