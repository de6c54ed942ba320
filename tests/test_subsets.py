"""Subsets are drawn, not cut (`max_train_samples`, `max_eval_samples`): stratified by label
and group, seeded, the same for every seed and for a group whatever groups are drawn beside
it, and recorded; plus the keys that decide what trains (freeze_embeddings) and what is
scored (evaluate_before_training, and the best epoch's validation reused, not scored again),
and phase 3 running phase 2's experiment."""
from __future__ import annotations

import json
from collections import Counter

import pytest
import torch

from common.errors import ConfigError
from common.splits import Splits, apportion, draw_subset, draw_subsets
from common.splits import Example


def examples(groups=("en", "fr"), per_label=(60, 30, 10)):
    return [Example(f"{g} {label} {i}", label, group=g) for g in groups for label, n in enumerate(per_label)
            for i in range(n)]


def test_apportion_adds_up_by_largest_remainder():
    assert apportion({"a": 60, "b": 30, "c": 10}, 10) == {"a": 6, "b": 3, "c": 1}
    assert apportion({"a": 1, "b": 1, "c": 1}, 2) == {"a": 1, "b": 1, "c": 0}  # ties: by key
    counts = apportion({"a": 7, "b": 5, "c": 3}, 11)
    assert sum(counts.values()) == 11 and counts == {"a": 5, "b": 4, "c": 2}


def test_a_subset_of_a_file_sorted_by_label_keeps_every_label_in_proportion():
    pool = examples(groups=("en",))  # sorted: 60 of label 0, then 30 of 1, then 10 of 2
    drawn = draw_subset(pool, 20, seed=42)
    assert Counter(e.label for e in drawn) == {0: 12, 1: 6, 2: 2}
    assert Counter(e.label for e in pool[:20]) == {0: 20}  # what cutting the first 20 gave
    assert drawn == draw_subset(pool, 20, seed=42) and drawn != draw_subset(pool, 20, seed=7)
    assert drawn == sorted(drawn, key=pool.index)  # the file's order is kept


def test_a_groups_draw_does_not_depend_on_the_groups_beside_it():
    both = draw_subset(examples(groups=("en", "fr")), 40, seed=3)
    alone = draw_subset(examples(groups=("en",)), 20, seed=3)
    assert [e for e in both if e.group == "en"] == alone
    assert Counter(e.group for e in both) == {"en": 20, "fr": 20}


def test_draw_subsets_records_what_was_trained_and_scored_on():
    splits = Splits(["neg", "neu", "pos"], examples(), examples(per_label=(10, 10, 10)), examples(per_label=(5, 5, 5)),
                    info={"sizes": {"train": {"en": 100, "fr": 100}, "val": {"en": 30, "fr": 30}, "test": 30}})
    record = draw_subsets(splits, 50, 20, seed=1)
    assert record["train"]["drawn"] == 50 and record["train"]["of"] == 200
    # per language 25 of (60, 30, 10): 15, 7.5, 2.5 -> 15, 8 (the tie goes to the larger label), 2
    assert record["train"]["labels"] == {"neg": 30, "neu": 16, "pos": 4}
    assert record["train"]["groups"] == {"en": 25, "fr": 25}
    assert record["val"] == {"drawn": 20, "of": 60} and record["test"] == {"drawn": 20, "of": 30}
    assert splits.info["sizes"] == {"train": {"en": 25, "fr": 25}, "val": {"en": 10, "fr": 10}, "test": 20}
    assert len(splits.train) == 50 and len(splits.val) == len(splits.test) == 20


def test_phase1_trains_on_a_drawn_subset_of_a_sorted_file(tiny_config, tmp_path):
    from phase1_financial_phrasebank.synthetic import synthetic_phrasebank, write_phrasebank
    from phase1_financial_phrasebank.train import main

    levels = synthetic_phrasebank()
    levels = {level: sorted(lines, key=lambda line: line.rsplit("@", 1)[1]) for level, lines in levels.items()}
    data = write_phrasebank(tmp_path / "sorted", levels)
    run_dir = main(tiny_config(data_dir=str(data), epochs=1, max_train_samples=60))
    metrics = json.loads((run_dir / "metrics.json").read_text())
    subset = metrics["data"]["subset"]["train"]
    assert metrics["train_examples"] == subset["drawn"] == 60
    assert set(subset["labels"]) == {"negative", "neutral", "positive"}
    assert min(subset["labels"].values()) >= 8  # every label in proportion, not the first 60 lines' one label


def test_freeze_embeddings_keeps_the_embedding_matrix_through_training_and_resume(phase2_config):
    from safetensors.torch import load_file

    from phase2_multilingual_sentiment.train import main

    initial = load_file(phase2_config().model_name_or_path + "/model.safetensors")
    key = next(k for k in initial if k.endswith("word_embeddings.weight"))
    frozen = main(phase2_config(run_name="frozen", freeze_embeddings=True, epochs=1))

    def interrupt(epoch, row):
        raise KeyboardInterrupt  # after epoch 1's checkpoint

    with pytest.raises(KeyboardInterrupt):
        main(phase2_config(run_name="resumed", freeze_embeddings=True), on_epoch_end=interrupt)
    resumed = main(phase2_config(run_name="resumed", freeze_embeddings=True, resume=True))
    trained = main(phase2_config(run_name="trained", epochs=1))
    for run_dir in (frozen, resumed):
        weights = load_file(run_dir / "checkpoints" / "last" / "model.safetensors")
        assert torch.equal(weights[next(k for k in weights if k.endswith("word_embeddings.weight"))], initial[key])
    weights = load_file(trained / "checkpoints" / "last" / "model.safetensors")
    assert not torch.equal(weights[next(k for k in weights if k.endswith("word_embeddings.weight"))], initial[key])
    history = [json.loads(line) for line in (resumed / "history.jsonl").read_text().splitlines()]
    assert len(history) == 2 and history[0]["trainable_parameters"] == history[1]["trainable_parameters"]
    assert history[0]["trainable_parameters"] == sum(v.numel() for v in weights.values()) - initial[key].numel()


@pytest.mark.parametrize("overrides, match", [
    (dict(architecture="tiny_transformer", train_tokenizer=True, freeze_embeddings=True), "trained from scratch"),
])
def test_freeze_embeddings_is_refused_where_it_means_nothing(phase2_config, overrides, match):
    from phase2_multilingual_sentiment.train import main

    with pytest.raises(ConfigError, match=match):
        main(phase2_config(**overrides))


def test_phase1_refuses_freeze_embeddings_with_lora_or_a_regime(tiny_config):
    from phase1_financial_phrasebank.train import main

    for overrides in (dict(lora=True), dict(regime="head_only")):
        with pytest.raises(ConfigError, match="freeze_embeddings is for regime 'full' without lora"):
            main(tiny_config(freeze_embeddings=True, **overrides))


def test_evaluate_before_training_false_skips_the_before_scores(tiny_config):
    from phase1_financial_phrasebank.train import main

    metrics = json.loads((main(tiny_config(epochs=1, evaluate_before_training=False)) / "metrics.json").read_text())
    assert not [key for key in metrics if key.startswith("before_")] and "test_f1_macro" in metrics


def test_phase3_runs_phase2s_experiment_key_for_key(phase2_config, tmp_path):
    """The same seeded config gives phase 3 the records phase 2 gives, from scratch on a
    trained tokenizer too (phase 3 once ignored those keys and fine-tuned the pretrained model)."""
    from phase2_multilingual_sentiment.train import main as phase2_main
    from phase3_hp_tuning_xlm_roberta.config import Phase3Config
    from phase3_hp_tuning_xlm_roberta.train import main as phase3_main

    values = dict(architecture="tiny_transformer", train_tokenizer=True, tokenizer_vocab_size=300, epochs=1,
                  max_train_samples=90, optimizer="adafactor", learning_rate=3e-3, report_to=["none"])
    two = phase2_main(phase2_config(**values))
    three = phase3_main(Phase3Config(**vars(phase2_config(**values))))
    assert two.parent.name == "phase2_multilingual_sentiment" and three.parent.name == "phase3_hp_tuning_xlm_roberta"
    timing = ("seconds", "per_second", "started", "finished", "duration")
    records = []
    for run_dir in (two, three):
        metrics = json.loads((run_dir / "metrics.json").read_text())
        records.append({k: v for k, v in metrics.items() if not any(t in k for t in timing)})
    assert records[0] == records[1]
    assert records[1]["data"]["tokenizer"]["vocab_size"] <= 300  # its own BPE, as in phase 2
    assert json.loads((three / "checkpoints" / "best" / "config.json").read_text())["model_type"] != "bert"


def test_the_best_epochs_validation_is_not_scored_again(tiny_config, monkeypatch):
    import common.evaluation
    from common.evaluation import Evaluator
    from common.models import load_tokenizer, load_trained_classifier
    from phase1_financial_phrasebank.data import load_splits
    from phase1_financial_phrasebank.train import main

    calls = Counter()
    real = common.evaluation.evaluate

    def counting(model, loader, *args, desc="", **kwargs):
        calls[desc] += 1
        return real(model, loader, *args, desc=desc, **kwargs)

    monkeypatch.setattr(common.evaluation, "evaluate", counting)
    run_dir = main(tiny_config(epochs=3, evaluate_before_training=False))
    metrics = json.loads((run_dir / "metrics.json").read_text())
    history = [json.loads(line) for line in (run_dir / "history.jsonl").read_text().splitlines()]
    assert calls["val"] == 3  # once per epoch, none at the end
    assert metrics["val_f1_macro"] == history[metrics["best_epoch"] - 1]["val_f1_macro"]
    # and the reused scores are the reloaded best checkpoint's own
    cfg = tiny_config(epochs=3)
    best = load_trained_classifier(run_dir / "checkpoints" / "best")
    fresh = Evaluator(load_splits(cfg), load_tokenizer(cfg.model_name_or_path), cfg, torch.device("cpu"), None)
    assert fresh.run(best, "val")[0]["f1_macro"] == metrics["val_f1_macro"]


def test_examples_without_a_class_are_drawn_too():
    """A target extractor's examples (phase 1's FiQA targets) carry a target, not a label."""
    from types import SimpleNamespace

    from common.splits import count_by

    targets = [SimpleNamespace(text=f"sentence {i}", target=f"company {i}") for i in range(30)]
    drawn = draw_subset(targets, 12, seed=0)
    assert len(drawn) == 12 and count_by(drawn, []) == {"labels": {"target": 12}}
