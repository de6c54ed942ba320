"""Phase 4: medical abstracts data, the three explainers' guarantees, faithfulness curves,
and `explain` on a tiny saved RoBERTa run."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from common.errors import DataError
from phase4_medical_text_xai.attention import attention_rollout, attention_weights
from phase4_medical_text_xai.config import Phase4Config
from phase4_medical_text_xai.data import CONDITIONS, load_splits
from phase4_medical_text_xai.faithfulness import (deleted_positions, perturbation_curves, rank_tokens,
                                                  window_probabilities)
from phase4_medical_text_xai.integrated_gradients import baseline_ids, integrated_gradients, recorded_position_ids
from phase4_medical_text_xai.lrp import ConservativeRules, lrp_relevance
from common.random_encoders import write_tiny_roberta
from phase4_medical_text_xai.synthetic import synthetic_abstracts, write_abstracts, write_labels

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def medical_dir(tmp_path_factory) -> Path:
    """The shared copy's layout: labels file and the test file only, with one abstract
    repeated and one filed under two conditions."""
    directory = tmp_path_factory.mktemp("medical")
    rows = synthetic_abstracts(150)
    rows += [rows[0], (5, rows[1][1])]  # rows[1] is filed under condition 2
    write_abstracts(directory / "medical_tc_test.csv", rows)
    write_labels(directory)
    return directory


@pytest.fixture(scope="module")
def tiny_roberta_dir(tmp_path_factory) -> Path:
    return write_tiny_roberta(tmp_path_factory.mktemp("tiny_roberta"), [t for _, t in synthetic_abstracts(150)])


def make_config(directory: Path, **overrides) -> Phase4Config:
    return Phase4Config(data_dir=str(directory), **overrides)


def test_single_file_split_is_stratified_disjoint_and_deduplicated(medical_dir, capsys):
    splits = load_splits(make_config(medical_dir))
    assert "only medical_tc_test.csv was found" in capsys.readouterr().out
    assert splits.label_names == list(CONDITIONS)
    texts = {name: [e.text for e in splits.split(name)] for name in ("train", "val", "test")}
    assert sum(map(len, texts.values())) == 149  # 152 rows - 1 repeat - both copies of the conflicting text
    assert len(set(texts["train"]) | set(texts["val"]) | set(texts["test"])) == 149  # no text in two splits
    assert splits.info["cleaning"]["test"]["conflicting_sentences_dropped"] == 1
    totals = Counter(e.label for e in splits.train + splits.val + splits.test)
    for name in ("train", "val", "test"):
        counts = Counter(e.label for e in splits.split(name))
        share = len(splits.split(name)) / 149
        for label, total in totals.items():
            assert abs(counts[label] - total * share) <= 1.5  # stratified: each class in proportion


def test_published_train_and_test_keep_the_test_file(tmp_path):
    rows = synthetic_abstracts(200)
    write_abstracts(tmp_path / "medical_tc_train.csv", rows[:150] + [rows[160]])  # rows[160] is also in test
    write_abstracts(tmp_path / "medical_tc_test.csv", rows[150:])
    splits = load_splits(make_config(tmp_path))
    assert [e.text for e in splits.test] == [t for _, t in rows[150:]]
    assert rows[160][1] not in {e.text for e in splits.train + splits.val}
    assert len(splits.train) + len(splits.val) == 150
    assert splits.label_names == list(CONDITIONS)  # no labels file: the corpus's own names


def test_bad_rows_name_the_file_and_row(tmp_path):
    write_abstracts(tmp_path / "medical_tc_test.csv", synthetic_abstracts(20) + [(7, "an abstract")])
    with pytest.raises(DataError, match=r"medical_tc_test.csv, row 21: unknown label '7'"):
        load_splits(make_config(tmp_path))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="neither medical_tc_train.csv nor medical_tc_test.csv"):
        load_splits(make_config(tmp_path / "empty"))


def test_real_medical_abstracts(real_data_dir):
    splits = load_splits(make_config(real_data_dir / "medical_abstracts"))
    assert splits.label_names == list(CONDITIONS)
    sizes = {name: len(splits.split(name)) for name in ("train", "val", "test")}
    assert sum(sizes.values()) == 2657  # 2888 - 118 repeats - 113 abstracts filed under two conditions
    assert sizes == {"train": 2125, "val": 266, "test": 266}
    texts = [set(e.text for e in splits.split(name)) for name in ("train", "val", "test")]
    assert not (texts[0] & texts[1] or texts[0] & texts[2] or texts[1] & texts[2])


# ---- the explainers, on a tiny RoBERTa and a tiny BERT ----

def tiny_classifier(kind: str, seed: int = 0):
    """A random 2-layer classifier whose biases and LayerNorm shifts are non-zero (random
    init leaves them at zero, which would hide bias relevance)."""
    from transformers import BertConfig, BertForSequenceClassification, RobertaConfig, RobertaForSequenceClassification

    torch.manual_seed(seed)
    config_cls, model_cls = {"roberta": (RobertaConfig, RobertaForSequenceClassification),
                             "bert": (BertConfig, BertForSequenceClassification)}[kind]
    config = config_cls(vocab_size=120, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=64, num_labels=5, max_position_embeddings=80, pad_token_id=1)
    model = model_cls(config).eval()
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name.endswith("bias"):
                parameter.normal_(0, 0.2)
    return model


def one_example(length: int = 14, seed: int = 0) -> dict:
    ids = torch.randint(5, 120, (1, length), generator=torch.Generator().manual_seed(seed))
    ids[0, 0], ids[0, -1] = 0, 2
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}


@pytest.mark.parametrize("kind", ["roberta", "bert"])
def test_lrp_relevance_is_conserved(kind):
    model = tiny_classifier(kind)
    for seed in range(3):
        inputs = one_example(seed=seed)
        logits = model(**inputs).logits[0]
        relevance, check = lrp_relevance(model, inputs, target=2)
        assert check["logit"] == pytest.approx(float(logits[2].detach()), abs=1e-6)  # same forward value
        assert float(relevance.sum()) + check["bias_relevance"] == pytest.approx(check["logit"], abs=1e-5)
        assert check["conservation_error"] < 1e-5
        assert abs(check["bias_relevance"]) > 1e-3  # the biases do take a share


def test_plain_gradient_times_input_is_not_conservative():
    """The control: without the detaching rules the same sum misses the logit."""
    model = tiny_classifier("roberta")
    inputs = one_example()
    embeddings = model.roberta.embeddings
    captured = {}
    handle = embeddings.LayerNorm.register_forward_pre_hook(
        lambda module, args: (captured.setdefault("x", args[0].detach().requires_grad_(True)),))
    logit = model(**inputs).logits[0, 2]
    handle.remove()
    biases = [p for n, p in model.named_parameters() if n.endswith("bias")]
    grads = torch.autograd.grad(logit, [captured["x"], *biases], allow_unused=True)
    with torch.no_grad():
        total = float((captured["x"] * grads[0]).sum()) + sum(float((b * g).sum()) for b, g in zip(biases, grads[1:])
                                                              if g is not None)
    assert abs(total - logit.detach().item()) > 1e-3
    with ConservativeRules():  # the rules change gradients, never the forward value
        ruled = model(**inputs).logits[0, 2].detach().item()
    assert ruled == pytest.approx(logit.detach().item(), abs=1e-6)


def test_integrated_gradients_completeness_and_roberta_positions(tiny_roberta_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_roberta_dir)
    model = tiny_classifier("roberta")
    model.resize_token_embeddings(len(tokenizer))
    inputs = dict(tokenizer("patients with tumor and carcinoma were studied", return_tensors="pt"))
    baseline = baseline_ids(tokenizer, inputs["input_ids"])
    ids = inputs["input_ids"][0]
    assert baseline[0, 0] == ids[0] == tokenizer.bos_token_id and baseline[0, -1] == ids[-1] == tokenizer.eos_token_id
    assert (baseline[0, 1:-1] == tokenizer.pad_token_id).all()
    positions = recorded_position_ids(model, inputs)
    assert positions[0].tolist() == list(range(2, 2 + len(ids)))  # RoBERTa: padding_idx + 1 onwards
    scores, check = integrated_gradients(model, tokenizer, inputs, target=3, steps=200, internal_batch_size=64)
    gap = check["logit"] - check["baseline_logit"]
    assert float(scores.sum()) == pytest.approx(gap, abs=abs(check["delta"]) + 1e-5)
    assert abs(check["delta"]) < 0.02 * max(abs(gap), 1e-2)
    # f(baseline) is the model at the input's positions, not at the ones RoBERTa gives padding
    with torch.no_grad():
        at_input_positions = model(input_ids=baseline, attention_mask=inputs["attention_mask"],
                                   position_ids=positions).logits[0, 3]
        at_own_positions = model(input_ids=baseline, attention_mask=inputs["attention_mask"]).logits[0, 3]
    assert check["baseline_logit"] == pytest.approx(float(at_input_positions), abs=1e-5)
    assert abs(float(at_own_positions) - float(at_input_positions)) > 1e-4


def test_adaptive_integrated_gradients_doubles_its_steps_until_complete(tiny_roberta_dir):
    from transformers import AutoTokenizer, RobertaConfig, RobertaForSequenceClassification

    from phase4_medical_text_xai.integrated_gradients import adaptive_integrated_gradients

    tokenizer = AutoTokenizer.from_pretrained(tiny_roberta_dir)
    torch.manual_seed(0)  # large initial weights: a logit that bends along the path (2 steps are 10% off)
    model = RobertaForSequenceClassification(RobertaConfig(
        vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
        num_labels=5, max_position_embeddings=80, pad_token_id=1, initializer_range=0.2)).eval()
    inputs = dict(tokenizer("patients with tumor and carcinoma were studied", return_tensors="pt"))
    _, coarse = integrated_gradients(model, tokenizer, inputs, target=3, steps=2)
    bound = 0.01 * max(abs(coarse["logit"] - coarse["baseline_logit"]), 0.1)
    assert abs(coarse["delta"]) > 5 * bound
    _, check = adaptive_integrated_gradients(model, tokenizer, inputs, target=3, steps=2, tolerance=0.01)
    assert check["steps"] > 2 and check["within_tolerance"] and abs(check["delta"]) <= bound
    _, fixed = adaptive_integrated_gradients(model, tokenizer, inputs, target=3, steps=2, tolerance=0)
    assert fixed["steps"] == 2 and fixed["within_tolerance"] and fixed["delta"] == pytest.approx(coarse["delta"])
    _, capped = adaptive_integrated_gradients(model, tokenizer, inputs, target=3, steps=2, tolerance=1e-12,
                                              max_steps=8)
    assert capped["steps"] == 8 and not capped["within_tolerance"]


def test_attention_rollout_rows_are_distributions():
    model = tiny_classifier("bert")
    logits, attentions = attention_weights(model, one_example(20))
    assert attentions.shape == (2, 4, 20, 20)
    rollout = attention_rollout(attentions)
    assert torch.allclose(rollout.sum(-1), torch.ones(20), atol=1e-5)
    assert (rollout >= 0).all()
    assert torch.allclose(logits, model(**one_example(20)).logits[0], atol=1e-5)


def test_deletion_removes_more_at_each_step_and_never_unread_tokens():
    scores = np.array([9.0, 0.1, 0.7, 0.3, 0.9, 0.5, 9.0])
    content = np.array([False, True, True, True, True, True, False])
    order = rank_tokens(scores, content)
    assert order.tolist() == [4, 2, 5, 3, 1]
    fractions = np.linspace(0, 1, 6)
    removed = deleted_positions(order, fractions)
    assert [len(r) for r in removed] == [0, 1, 2, 3, 4, 5]
    assert all(set(a) <= set(b) for a, b in zip(removed, removed[1:]))


class CountsToken(torch.nn.Module):
    """A classifier whose class-0 logit counts token 7 (and records what it was given)."""

    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(()))
        self.seen = []

    def forward(self, input_ids, attention_mask=None):
        self.seen.append(input_ids.clone())
        hits = ((input_ids == 7) & (attention_mask > 0)).float().sum(1, keepdim=True) * self.weight
        return type("Out", (), {"logits": torch.cat([hits, -hits], 1)})()


def test_a_faithful_ranking_scores_better_than_its_reverse():
    """On a model that only counts one token, ranking that token first must win."""
    ids, held = [0, 5, 7, 6, 7, 8, 2], [-1, 0, 1, 2, 3, 4, -1]  # one window: <s> five text tokens </s>
    content = np.ones(5, dtype=bool)
    good = np.array([0.1, 1.0, 0.2, 0.9, 0.0])
    fractions = np.linspace(0, 1, 6)
    probabilities = window_probabilities(CountsToken(), [ids], [held], 0, replacement_id=4, pad_id=1)
    right = perturbation_curves(probabilities, good, content, fractions)
    wrong = perturbation_curves(probabilities, -good, content, fractions)
    assert right["comprehensiveness"] > wrong["comprehensiveness"]
    assert right["sufficiency"] < wrong["sufficiency"]
    assert right["deletion_auc"] < wrong["deletion_auc"] and right["insertion_auc"] > wrong["insertion_auc"]


def test_a_hidden_token_is_hidden_in_every_window_that_holds_it_and_never_a_special_one():
    model = CountsToken()
    windows = [[0, 7, 5, 7, 2], [0, 7, 9, 2]]  # text tokens 0-3 and 2-4: text token 2 (a 7) is in both
    positions = [[-1, 0, 1, 2, -1], [-1, 2, 3, -1]]
    probabilities = window_probabilities(model, windows, positions, 0, replacement_id=4, pad_id=1)
    probabilities([np.array([], dtype=int), np.array([2]), np.array([0, 1, 2, 3])])
    rows = torch.cat(model.seen)
    assert rows.shape == (6, 5)  # 3 sets x 2 windows, the shorter window padded
    assert rows[0].tolist() == windows[0] and rows[1].tolist() == windows[1] + [1]
    assert rows[2].tolist() == [0, 7, 5, 4, 2] and rows[3].tolist() == [0, 4, 9, 2, 1]
    assert rows[4].tolist() == [0, 4, 4, 4, 2] and rows[5].tolist() == [0, 4, 4, 2, 1]


# ---- explain on a saved run ----

@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, medical_dir, tiny_roberta_dir) -> Path:
    from phase4_medical_text_xai.train import main

    runs = tmp_path_factory.mktemp("runs")
    cfg = make_config(medical_dir, model_name_or_path=str(tiny_roberta_dir), output_dir=str(runs), run_name="tiny",
                      device="cpu", epochs=2, batch_size=16, max_length=48, learning_rate=1e-3, progress=False)
    run_dir = main(cfg)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert set(metrics["data"]["truncated"]) == {"train", "val", "test"}
    return run_dir


def run_explain(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "phase4_medical_text_xai.explain", *argv], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def test_explain_writes_pages_figures_and_faithfulness(tiny_run, monkeypatch):
    from phase4_medical_text_xai import explain

    settings = dict(ig_steps=16, fractions=5)
    out = explain.explain_run(tiny_run, 3, ["attention", "ig", "lrp"], **settings)
    result = json.loads((out / "faithfulness.json").read_text())
    assert result["n"] == 3 and set(result["summary"]) == {"attention", "ig", "lrp", "random"}
    assert len(result["fractions"]) == 6 and result["checks"]["lrp_conservation_error_max"] < 1e-3
    for name in ("index.html", "faithfulness.png", "example_0000.html", "example_0002.html",
                 "attention/example_0001.png"):
        assert (out / name).stat().st_size > 500, name
    page = (out / "example_0001.html").read_text()
    assert page.count('class="method"') == 3 and "rgba(" in page
    index = (out / "index.html").read_text()
    metrics = json.loads((tiny_run / "metrics.json").read_text())
    assert index.index("How good the explained model is") < index.index("<h2>Faithfulness</h2>")
    assert f"Test macro-F1 <b>{metrics['test_f1_macro']:.3f}</b>" in index and "What the measures mean" in index
    assert "minus the random ranking" in index
    records = [json.loads(line) for line in (out / "examples.jsonl").read_text().splitlines()]
    assert [r["index"] for r in records] == [0, 1, 2]
    for record in records:
        assert all(len(record["attributions"][m]) == len(record["tokens"]) for m in record["attributions"])
        assert record["prediction"] == max(record["probs"], key=record["probs"].get)
    # a second call with the same settings keeps what was explained and only adds the rest
    monkeypatch.setattr(explain, "explain_example", _fail_on_reexplain(explain.explain_example, {0, 1, 2}))
    explain.explain_run(tiny_run, 4, ["attention", "ig", "lrp"], **settings)
    assert len((out / "examples.jsonl").read_text().splitlines()) == 4


def _fail_on_reexplain(original, done: set):
    def wrapped(model, tokenizer, row, index, *rest):
        assert index not in done, f"example {index} was explained again"
        return original(model, tokenizer, row, index, *rest)
    return wrapped


def test_explain_errors_name_the_problem(tiny_run, tmp_path):
    empty = tmp_path / "no_checkpoint"
    (empty / "checkpoints").mkdir(parents=True)
    result = run_explain("--run", str(empty))
    assert result.returncode == 2 and "has no checkpoint in checkpoints/best" in result.stderr
    assert "Traceback" not in result.stderr
    result = run_explain("--run", str(tiny_run), "--methods", "ig,shap")
    assert result.returncode == 2 and "unknown method(s) 'shap'" in result.stderr
    result = run_explain("--run", str(tmp_path / "nowhere"))
    assert result.returncode == 2 and "does not exist" in result.stderr


@pytest.mark.skipif(not (shutil.which("chromium") or shutil.which("chromium-browser")),
                    reason="headless Chromium is not installed (apt-get install chromium)")
def test_report_renders_in_headless_chromium(tiny_run, tmp_path):
    from phase4_medical_text_xai.screenshot import screenshot

    page = tiny_run / "explanations" / "example_0000.html"
    if not page.exists():
        from phase4_medical_text_xai import explain
        explain.explain_run(tiny_run, 1, ["attention", "ig", "lrp"], ig_steps=8)
    image = screenshot(page, tmp_path / "page.png", width=1200, height=900)
    from PIL import Image

    pixels = np.asarray(Image.open(image).convert("RGB")).astype(int)
    assert pixels.shape[:2] == (900, 1200)
    red = (pixels[..., 0] > 200) & (pixels[..., 1] < 190) & (pixels[..., 2] < 190)
    assert red.sum() > 50  # the heat-map shading was drawn, not just a blank page


def test_report_renders_the_classification_and_faithfulness_tables(tiny_run, tmp_path):
    from common.report import build_report
    from phase4_medical_text_xai import explain

    if not (tiny_run / "explanations" / "faithfulness.json").exists():
        explain.explain_run(tiny_run, 2, ["attention", "ig", "lrp"], ig_steps=8)
    out = tmp_path / "experiments.md"
    text = build_report(tiny_run.parent.parent, out)
    result = json.loads((tiny_run / "explanations" / "faithfulness.json").read_text())
    assert "**Phase 4: text classification, test split** (runs made here; data: `medical_abstracts`, 5 labels: " \
        in text and "stratified 80/10/10" in text
    assert "Faithfulness of the explanations of run `tiny`" in text
    row = next(line for line in text.splitlines() if line.startswith("| Integrated Gradients"))
    assert f"{result['summary']['ig']['comprehensiveness']['mean']:.3f}" in row
    assert "| Random |" in text and (tmp_path / "figures" / "phase4_medical_text_xai_tiny_faithfulness.png").exists()


def explained(method_gain: float, n: int = 12, confidence: float = 0.9) -> list[dict]:
    """Records as explain writes them: `ig` beats the random ranking by `method_gain` on every
    measure's better side, with noise."""
    rng = np.random.default_rng(0)
    records = []
    for i in range(n):
        base = {"comprehensiveness": 0.2, "sufficiency": 0.3, "deletion_auc": 0.5, "insertion_auc": 0.5}
        noise = rng.normal(0, 0.01)
        ig = {k: v + (method_gain if k in ("comprehensiveness", "insertion_auc") else -method_gain) + noise
              for k, v in base.items()}
        probs = {"a": confidence, **{c: (1 - confidence) / 4 for c in "bcde"}}
        records.append({"faithfulness": {"ig": ig, "random": base}, "probs": probs})
    return records


def test_the_index_says_how_good_the_model_is_and_flags_near_chance(tmp_path):
    from phase4_medical_text_xai.html_report import against_random, model_quality

    (tmp_path / "metrics.json").write_text(json.dumps({"test_f1_macro": 0.24, "test_f1_macro_ci": [0.2, 0.28],
                                                       "test_accuracy": 0.3, "labels": list("abcde"),
                                                       "warnings": ["the model never predicts 'b', 'c'"]}))
    weak = model_quality(tmp_path, explained(0.0, confidence=0.21))
    assert "Test macro-F1 <b>0.240</b> (95% interval 0.200 to 0.280)" in weak and "about 0.20" in weak
    assert "Near chance: its test macro-F1 is under 1.5 times chance; its mean probability" in weak
    assert "never predicts &#x27;b&#x27;" in weak
    (tmp_path / "metrics.json").write_text(json.dumps({"test_f1_macro": 0.8, "test_accuracy": 0.8,
                                                       "labels": list("abcde")}))
    assert "Near chance" not in model_quality(tmp_path, explained(0.0, confidence=0.9))
    assert "Integrated Gradients ranks tokens better than chance on comprehensiveness, sufficiency, deletion auc, " \
           "insertion auc" in against_random(explained(0.1), ["ig", "random"])
    assert "cannot be told apart from a random ranking on these 12 examples" in \
        against_random(explained(0.0), ["ig", "random"])
