"""Encoding and scoring of FiQA target extraction, in the shape `common.fit` and
`common.run_lifecycle` expect of an evaluator (`run`, `before_training`, `final`).

The seq2seq model reads the prompt, the aspect (when asked) and the sentence, and writes
the target; its validation pass computes the teacher-forced loss and decodes (greedy or
beam search). The span tagger labels the sentence's tokens O/B/I (the aspect, when asked,
is the second segment and is never tagged); its span is the tagged run of tokens with the
most confident start, or, when it tags none, the single most likely start, cut from the
sentence at the tokens' character offsets: it can only output text of the sentence.
Both are scored by exact match, token F1 and the share of predictions found in the
sentence (common/span_metrics.py); the best epoch has the highest validation token F1 (on
about 120 validation entries exact match moves in steps of almost a point).
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from common.batching import EncodedDataset, make_eval_loader, make_train_loader
from common.distributed import gather_objects
from common.training_steps import move_to_device
from common.evaluation import Evaluator
from common.metrics import prefix_metrics
from common.records import write_csv
from phase1_financial_phrasebank.fiqa.span_metrics import exact_match, occurs_in, span_metrics, token_f1
from common.uncertainty import mean_intervals
from phase1_financial_phrasebank.fiqa.data import TargetExample
from phase1_financial_phrasebank.fiqa.target_config import TargetConfig
from phase1_financial_phrasebank.fiqa.target_models import SPAN_LABELS

IGNORE = -100  # label of tokens that are not scored (padding, special tokens, the aspect segment)


def token_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy over every scored token of the batch (a decoder's or a tagger's)."""
    return F.cross_entropy(logits.flatten(0, -2), labels.flatten(), ignore_index=IGNORE)


def seq2seq_input(cfg: TargetConfig, example: TargetExample) -> str:
    aspect = f"Aspect: {example.pair}. " if example.pair else ""
    return f"{cfg.prompt}{aspect}Text: {example.text}"


def encode_seq2seq(cfg: TargetConfig, tokenizer, model, examples: Sequence[TargetExample]) -> EncodedDataset:
    inputs = tokenizer([seq2seq_input(cfg, e) for e in examples], truncation=True, max_length=cfg.max_length)
    targets = tokenizer(text_target=[e.target for e in examples], truncation=True,
                        max_length=cfg.max_target_length)["input_ids"]
    start = getattr(model.config, "decoder_start_token_id", None)
    # A BERT tokenizer opens every target with [CLS], which a warm-started decoder also starts from: not a label.
    labels = [ids[1:] if start is not None and ids and ids[0] == start else ids for ids in targets]
    keep = [key for key in ("input_ids", "attention_mask") if key in inputs]
    return EncodedDataset({key: inputs[key] for key in keep}, labels)


def span_of(sentence: str, target: str) -> tuple[int, int] | None:
    """Characters of the target's first occurrence in the sentence (case ignored), if any."""
    start = sentence.lower().find(target.lower())
    return None if start < 0 else (start, start + len(target))


def encode_spans(cfg: TargetConfig, tokenizer, examples: Sequence[TargetExample]) -> EncodedDataset:
    """Sentence tokens labelled O/B/I by the target's first occurrence (all O when the target
    is not in the sentence); the aspect segment and special tokens are not scored."""
    pairs = [e.pair or "" for e in examples] if any(e.pair for e in examples) else None
    encoded = tokenizer([e.text for e in examples], pairs, truncation=True, max_length=cfg.max_length,
                        return_offsets_mapping=True)
    labels, offsets = [], []
    for index, example in enumerate(examples):
        span, sequence = span_of(example.text, example.target), encoded.sequence_ids(index)
        row, inside = [], False
        for (start, end), segment in zip(encoded["offset_mapping"][index], sequence):
            if segment != 0 or start == end:
                row.append(IGNORE)
                continue
            within = span is not None and start >= span[0] and end <= span[1]
            row.append(SPAN_LABELS.index("I" if within and inside else "B" if within else "O"))
            inside = within
        labels.append(row)
        offsets.append([(start, end) if segment == 0 else None
                        for (start, end), segment in zip(encoded["offset_mapping"][index], sequence)])
    keep = [key for key in ("input_ids", "attention_mask", "token_type_ids") if key in encoded]
    dataset = EncodedDataset({key: encoded[key] for key in keep}, labels)
    dataset.offsets = offsets
    return dataset


def decode_span(probs: np.ndarray, offsets: Sequence, sentence: str) -> str:
    """The tagged run of sentence tokens with the most confident start (see the module docstring)."""
    tokens = [i for i, offset in enumerate(offsets) if offset is not None and i < len(probs)]
    if not tokens:
        return ""
    tags = probs.argmax(-1)
    runs, current = [], []
    for i in tokens:
        if tags[i] == 1 or (tags[i] == 2 and not current):
            if current:
                runs.append(current)
            current = [i]
        elif tags[i] == 2:
            current.append(i)
        elif current:
            runs.append(current)
            current = []
    if current:
        runs.append(current)
    if not runs:
        runs = [[max(tokens, key=lambda i: probs[i, 1])]]
    best = max(runs, key=lambda run: probs[run[0], 1])
    return sentence[offsets[best[0]][0]:offsets[best[-1]][1]]


def collator(cfg: TargetConfig, tokenizer, model):
    from transformers import DataCollatorForSeq2Seq, DataCollatorForTokenClassification

    if cfg.extractor == "span_tagger":
        return DataCollatorForTokenClassification(tokenizer, label_pad_token_id=IGNORE, return_tensors="pt")
    base = getattr(model, "get_base_model", lambda: model)()  # builds decoder inputs from the labels
    return DataCollatorForSeq2Seq(tokenizer, model=base, label_pad_token_id=IGNORE, return_tensors="pt")


def encode(cfg: TargetConfig, tokenizer, model, examples: Sequence[TargetExample]) -> EncodedDataset:
    if cfg.extractor == "span_tagger":
        return encode_spans(cfg, tokenizer, examples)
    return encode_seq2seq(cfg, tokenizer, model, examples)


def make_target_train_loader(cfg: TargetConfig, tokenizer, model, examples: Sequence[TargetExample]):
    return make_train_loader(encode(cfg, tokenizer, model, examples), tokenizer, cfg.batch_size, cfg.seed,
                             cfg.group_by_length, cfg.num_workers, collate_fn=collator(cfg, tokenizer, model))


class TargetEvaluator(Evaluator):
    """Extracts the targets of each evaluation split and scores them (one encoding per split)."""

    selection_metric = "token_f1"
    history_metrics = ("exact_match", "token_f1")
    headline = ("exact_match", "exact match")
    pools_test_sets = False  # `extract` reads each split's own loader and dataset

    def __init__(self, splits, tokenizer, cfg: TargetConfig, device, amp_dtype, model):
        self.tokenizer, self.datasets = tokenizer, {}

        def make_loader(examples):
            dataset = encode(cfg, tokenizer, model, examples)
            self.datasets[id(examples)] = dataset
            return make_eval_loader(dataset, tokenizer, cfg.eval_batch_size, cfg.num_workers,
                                    collate_fn=collator(cfg, tokenizer, model))

        super().__init__(splits, tokenizer, cfg, device, amp_dtype, make_loader=make_loader, columns=target_columns)

    @torch.no_grad()
    def extract(self, model, name: str) -> tuple[list[str], float]:
        """The predicted target of every example of split `name`, in order, and the mean token loss."""
        model.eval()
        loader, examples = self.loaders[name], self.examples[name]
        dataset = self.datasets[id(examples)]
        indices, texts, loss_sum, tokens = [], [], 0.0, 0
        sampled = list(loader.sampler)  # this rank's examples, in the order of the loader's batches
        for number, batch in enumerate(tqdm(loader, desc=name, leave=False, disable=not self.cfg.progress,
                                            dynamic_ncols=True)):
            order = sampled[number * loader.batch_size:(number + 1) * loader.batch_size]
            batch = move_to_device(batch, self.device)
            labels = batch.pop("labels")
            logits = model(**batch).logits.float()
            scored = int((labels != IGNORE).sum())
            loss_sum += float(token_loss(logits, labels)) * scored
            tokens += scored
            indices += order
            if self.cfg.extractor == "span_tagger":
                probs = logits.softmax(-1).cpu().numpy()
                texts += [decode_span(probs[k], dataset.offsets[i], examples[i].text) for k, i in enumerate(order)]
            else:
                generated = model.generate(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                                           num_beams=self.cfg.num_beams, max_new_tokens=self.cfg.max_target_length,
                                           do_sample=False)
                texts += self.tokenizer.batch_decode(generated, skip_special_tokens=True)
        shares = gather_objects((indices, texts, loss_sum, tokens))  # under DDP: every rank's share
        predicted = [""] * len(examples)
        for rank_indices, rank_texts, _, _ in shares:
            for index, text in zip(rank_indices, rank_texts):
                predicted[index] = text.strip()
        return predicted, sum(s[2] for s in shares) / max(sum(s[3] for s in shares), 1)

    def run(self, model, name: str) -> tuple[dict, list[str]]:
        examples = self.examples[name]
        predicted, loss = self.extract(model, name)
        metrics = span_metrics(predicted, [e.target for e in examples], [e.text for e in examples])
        metrics["loss"] = loss
        return metrics, predicted

    def final(self, model, run_dir: Path, title: str) -> dict:
        """Validation and test scores, 95% bootstrap intervals of the test exact match and token
        F1, and predictions.csv (input, gold and predicted target, per-example scores)."""
        metrics, predicted = {}, {}
        for name in ("val", *self.test_splits):
            split_metrics, predicted[name] = self.run(model, name)
            metrics.update(prefix_metrics(split_metrics, name))
        if not self.test_splits:
            return metrics
        examples = self.examples["test"]
        frame = pd.DataFrame(target_columns(examples))
        frame["predicted_target"] = predicted["test"]
        frame["exact_match"] = [exact_match(p, e.target) for p, e in zip(predicted["test"], examples)]
        frame["token_f1"] = [round(token_f1(p, e.target), 4) for p, e in zip(predicted["test"], examples)]
        frame["in_sentence"] = [occurs_in(p, e.text) for p, e in zip(predicted["test"], examples)]
        write_csv(run_dir / "predictions.csv", frame)
        intervals = mean_intervals({key: frame[key].to_numpy(dtype=float) for key in ("exact_match", "token_f1")})
        metrics["test_exact_match_ci"], metrics["test_token_f1_ci"] = intervals.pop("exact_match"), intervals.pop(
            "token_f1")
        metrics["test_intervals"] = intervals
        return metrics


def target_columns(examples: Sequence[TargetExample]) -> dict[str, list]:
    columns = {"text": [e.text for e in examples]}
    if any(e.pair for e in examples):
        columns["aspect"] = [e.pair for e in examples]
    columns["target"] = [e.target for e in examples]
    return columns
