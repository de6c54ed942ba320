"""Scores of a predicted text span against the gold one (target extraction): exact match
and token F1 after case and space normalisation (the SQuAD measures, Rajpurkar et al.
2016, without their article and punctuation stripping: a target such as "$AAPL" keeps its
sign), and whether the prediction occurs in the input sentence at all (a generative model
may write a target that is not there).
"""
from __future__ import annotations

import re
from collections import Counter
from typing import Sequence


def normalize_span(text: str) -> str:
    """Lower case, runs of white space as one space, no space at either end."""
    return re.sub(r"\s+", " ", text or "").strip().casefold()


def exact_match(prediction: str, gold: str) -> float:
    return float(normalize_span(prediction) == normalize_span(gold))


def token_f1(prediction: str, gold: str) -> float:
    """F1 of the two spans' white-space tokens as bags (1 when both are empty, 0 when one is)."""
    predicted, wanted = normalize_span(prediction).split(), normalize_span(gold).split()
    if not predicted or not wanted:
        return float(predicted == wanted)
    common = sum((Counter(predicted) & Counter(wanted)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(wanted)
    return 2 * precision * recall / (precision + recall)


def occurs_in(prediction: str, sentence: str) -> float:
    """1 when the (non-empty) normalised prediction is a substring of the normalised sentence."""
    span = normalize_span(prediction)
    return float(bool(span) and span in normalize_span(sentence))


def span_metrics(predictions: Sequence[str], golds: Sequence[str], sentences: Sequence[str]) -> dict:
    """Mean exact match, token F1 and in-sentence share over the examples."""
    n = len(golds)
    if not (len(predictions) == n == len(sentences)):
        raise ValueError(f"{len(predictions)} predictions, {n} gold spans and {len(sentences)} sentences")
    return {"exact_match": sum(map(exact_match, predictions, golds)) / max(n, 1),
            "token_f1": sum(map(token_f1, predictions, golds)) / max(n, 1),
            "in_sentence": sum(map(occurs_in, predictions, sentences)) / max(n, 1),
            "empty": sum(not normalize_span(p) for p in predictions) / max(n, 1), "n": n}
