"""Shared fixtures: a synthetic Financial PhraseBank, a tiny tokenizer and a tiny DistilBERT,
all written by the tests themselves, so that nothing is downloaded."""
from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a test that reaches for the hub fails fast
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

COMPANIES = ["Nokia", "Elcoteq", "Fiskars", "Kone", "Outokumpu", "Stora", "Wartsila", "Orion", "Sampo", "Neste"]
TEMPLATES = {
    "positive": ["{c} net profit rose {n} percent in the quarter .", "{c} operating profit increased to EUR {n} mn .",
                 "{c} sales grew by {n} % and the outlook improved ."],
    "negative": ["{c} net loss widened to EUR {n} mn .", "{c} cut {n} jobs after sales fell .",
                 "{c} operating profit decreased {n} percent ."],
    "neutral": ["{c} is headquartered in Helsinki and employs {n} people .", "{c} will publish its report on {n} May .",
                "The company {c} has {n} shareholders ."],
}
LEVELS = ("50Agree", "66Agree", "75Agree", "AllAgree")


def synthetic_phrasebank(n: int = 240, seed: int = 0) -> dict[str, list[str]]:
    """Nested agreement levels of `sentence@label` lines, with one repeated sentence and one
    sentence whose copies disagree (both in 50Agree only)."""
    rng = random.Random(seed)
    sentences = {}
    while len(sentences) < n:
        label = rng.choice(["neutral", "neutral", "positive", "negative"])
        text = rng.choice(TEMPLATES[label]).format(c=rng.choice(COMPANIES), n=rng.randint(2, 999))
        sentences.setdefault(text, label)
    pairs = sorted(sentences.items())
    rng.shuffle(pairs)
    agreement = {s: rng.choice(range(4)) for s, _ in pairs}  # index of the highest level it reaches
    levels = {level: [f"{s}@{label}" for s, label in pairs if agreement[s] >= i] for i, level in enumerate(LEVELS)}
    levels["50Agree"] += [levels["50Agree"][0], "Kone signed a deal with Nokia .@neutral",
                          "Kone signed a deal with Nokia .@positive"]
    return levels


def write_phrasebank(directory: Path, levels: dict[str, list[str]]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for level, lines in levels.items():
        (directory / f"Sentences_{level}.txt").write_text("\n".join(lines) + "\n", encoding="latin-1")
    return directory


@pytest.fixture(scope="session")
def phrasebank_dir(tmp_path_factory) -> Path:
    return write_phrasebank(tmp_path_factory.mktemp("phrasebank"), synthetic_phrasebank())


def write_tiny_model(directory: Path, words: set[str]) -> Path:
    """A 2-layer, 32-wide DistilBERT whose WordPiece vocabulary is `words`."""
    from transformers import DistilBertConfig, DistilBertModel, DistilBertTokenizerFast

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + sorted(words | set("0123456789.,%!?@#"))
    # transformers 5 takes the vocabulary itself (`vocab=`); a `vocab_file=` is silently ignored.
    tokenizer = DistilBertTokenizerFast(vocab={token: i for i, token in enumerate(vocab)}, do_lower_case=True)
    config = DistilBertConfig(vocab_size=len(vocab), n_layers=2, dim=32, n_heads=2, hidden_dim=64,
                              max_position_embeddings=128, pad_token_id=0)
    DistilBertModel(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A tiny DistilBERT with a vocabulary of the synthetic PhraseBank."""
    from transformers import AutoTokenizer

    words = {w.lower() for lines in synthetic_phrasebank().values() for line in lines
             for w in line.rsplit("@", 1)[0].replace("%", " % ").split()}
    directory = write_tiny_model(tmp_path_factory.mktemp("tiny_distilbert"), words)
    tokenizer = AutoTokenizer.from_pretrained(directory)
    assert tokenizer.unk_token_id not in tokenizer("nokia net profit rose")["input_ids"]
    return directory


@pytest.fixture
def tiny_config(tmp_path, phrasebank_dir, tiny_model_dir):
    """A factory of phase 1 configs for fast CPU runs into tmp_path."""
    from phase1_financial_phrasebank.config import Phase1Config

    def make(**overrides) -> Phase1Config:
        values = dict(model_name_or_path=str(tiny_model_dir), data_dir=str(phrasebank_dir),
                      output_dir=str(tmp_path / "runs"), run_name="tiny", device="cpu", epochs=2, batch_size=16,
                      max_length=32, learning_rate=1e-3, progress=False)
        values.update(overrides)
        return Phase1Config(**values)

    return make


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    """The real data sets (../shared/data) through DATA_DIR; skip when it is not set."""
    root = os.environ.get("DATA_DIR")
    if not root:
        pytest.skip("DATA_DIR is not set: the real data sets are not available here")
    return Path(root)


@pytest.fixture(scope="session")
def tweets_dir(tmp_path_factory) -> Path:
    from tests.multilingual_data import write_tweets

    return write_tweets(tmp_path_factory.mktemp("tweets"))


@pytest.fixture(scope="session")
def tiny_multilingual_model_dir(tmp_path_factory) -> Path:
    from tests.multilingual_data import vocabulary

    return write_tiny_model(tmp_path_factory.mktemp("tiny_multilingual"), vocabulary())


@pytest.fixture
def phase2_config(tmp_path, tweets_dir, tiny_multilingual_model_dir):
    """A factory of phase 2 configs for fast CPU runs into tmp_path."""
    from phase2_multilingual_sentiment.config import Phase2Config

    def make(**overrides):
        values = dict(model_name_or_path=str(tiny_multilingual_model_dir), data_dir=str(tweets_dir),
                      output_dir=str(tmp_path / "runs"), run_name="tiny", device="cpu", epochs=2, batch_size=16,
                      max_length=16, learning_rate=1e-3, progress=False, languages=["english", "french", "german"])
        values.update(overrides)
        return Phase2Config(**values)

    return make
