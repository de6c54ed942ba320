"""Checkpoints known to have been fine-tuned on a data set that this repository evaluates on.

Scoring such a checkpoint on that data set measures what it remembers, not how well it
generalises: its test sentences may have been in its training set (FinBERT's authors
trained and tested it on their own split of Financial PhraseBank, which is not ours). A
run that would do so stops before anything is read or written, unless
`--allow_known_overlap true`. This is the one list of such pairs; matching is by hub id
(case-insensitive), so a local copy of one of these checkpoints is not recognised.
"""
from __future__ import annotations

from typing import Optional

from common.errors import ConfigError

# checkpoint hub id (lower case) -> {data set: what is known}
KNOWN_TRAINING_DATA = {
    "prosusai/finbert": {
        "financial_phrasebank": "FinBERT was fine-tuned for sentiment on Financial PhraseBank (Araci 2019)",
    },
    "cardiffnlp/twitter-xlm-roberta-base-sentiment": {
        "tweet_sentiment_multilingual": "it was fine-tuned on the XLM-T multilingual tweets (Barbieri et al. 2022)",
    },
}
# the names a data set goes by in configs: a phase's own name, or its hub id on the generic path
DATASET_NAMES = {
    "financial_phrasebank": "financial_phrasebank",
    "takala/financial_phrasebank": "financial_phrasebank",
    "tweet_sentiment_multilingual": "tweet_sentiment_multilingual",
    "cardiffnlp/tweet_sentiment_multilingual": "tweet_sentiment_multilingual",
}


def known_overlap(model_name_or_path: str, dataset: Optional[str]) -> Optional[str]:
    """What is known about `model_name_or_path` having been trained on `dataset`, or None."""
    data = DATASET_NAMES.get(str(dataset or "").strip().lower())
    return KNOWN_TRAINING_DATA.get(model_name_or_path.strip().lower(), {}).get(data) if data else None


def check_known_overlap(model_name_or_path: str, dataset: Optional[str], allowed: bool) -> None:
    """Stop a run that would evaluate a checkpoint on data it is known to have been trained on."""
    known = known_overlap(model_name_or_path, dataset)
    if known is None:
        return
    if not allowed:
        raise ConfigError(f"{model_name_or_path} on {dataset}: {known}, so its scores there would not measure "
                          "generalisation. Use another checkpoint, or pass --allow_known_overlap true to run "
                          "it anyway (config.json records that it was allowed)")
    print(f"warning: {model_name_or_path} on {dataset}: {known}; allowed by --allow_known_overlap, its scores "
          "are not comparable with the other rows")
