"""Phase 1 steps of `python -m common.reproduce`: one run per preset (each a row of the
phase 1 tables) and the prompting baselines of the decoder LLM (zero- and 5-shot); quick:
the same presets on a tiny DistilBERT (the decoder LLM presets on a tiny Llama, without
their CUDA-only 4-bit loading) and a synthetic PhraseBank (and synthetic FiQA files). The
FiQA presets (`fiqa_*`) read the challenge's files, which have no hub copy: they run with
--data_root only."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

from common.hub import HubRef, is_hub_id
from common.phases import Runner
from common.reproduce import Context, Step, asset_step, train_step
from common.random_encoders import write_tiny_bart, write_tiny_bert, write_tiny_decoder
from phase1_financial_phrasebank.config import PHASE, PRESET_DIR
from phase1_financial_phrasebank.fiqa.target_config import PRESET_DIR as TARGET_PRESET_DIR, TargetConfig
from phase1_financial_phrasebank.synthetic import (synthetic_fiqa, synthetic_phrasebank, vocabulary, write_fiqa,
                                                   write_phrasebank)

PRESETS = sorted(path.stem for path in PRESET_DIR.glob("*.json"))
FIQA = "fiqa_"  # the presets of the FiQA 2018 tasks
TARGET_PRESETS = sorted(path.stem for path in TARGET_PRESET_DIR.glob("*.json"))  # FiQA target extraction
PROMPTED_LLM = "HuggingFaceTB/SmolLM2-135M-Instruct"  # the decoder LLM of the prompting baselines
SHOTS = (0, 5)


def is_llm_preset(preset: str) -> bool:
    """A preset of a decoder LLM (it names llm_format)."""
    return "llm_format" in json.loads((PRESET_DIR / f"{preset}.json").read_text(encoding="utf-8"))


def prompting_step(ctx: Context, runner: Runner, model: str, shots: int, seed: int, argv: Sequence[str]) -> Step:
    """A prompting baseline (common/prompting.py): `model` asked with `shots` solved examples."""
    from common.prompting import run_prompting

    name = f"prompt_{Path(model).name}_{shots}shot_seed{seed}"
    args = [*argv, "--seed", str(seed), "--output_dir", str(ctx.runs), "--device", ctx.device]
    return Step(PHASE, name, lambda: (ctx.runs / PHASE / name / "metrics.json").exists(),
                lambda: run_prompting("1", model, shots, args, name),
                lambda: runner.refs([*argv, "--model_name_or_path", model], f"phase1 {name}"))


def target_refs(cfg: TargetConfig) -> list[HubRef]:
    return [HubRef(cfg.model_name_or_path, "model")] if is_hub_id(cfg.model_name_or_path) else []


def target_runner() -> Runner:
    """The runner of `train_targets` (its own config class and presets), for the same phase."""
    from phase1_financial_phrasebank.fiqa.train_targets import main

    return Runner(PHASE, TargetConfig, TARGET_PRESET_DIR, main, target_refs)


def data_folder(preset: str) -> str:
    return "fiqa_2018" if preset.startswith(FIQA) else "financial_phrasebank"


def steps(ctx: Context, runner: Runner) -> list[Step]:
    presets = [preset for preset in PRESETS if ctx.data_root or not preset.startswith(FIQA)]
    if len(presets) < len(PRESETS):
        print(f"{PHASE}: the {len(PRESETS) - len(presets)} FiQA 2018 presets need --data_root (the challenge's "
              "files have no hub copy); they are left out of this plan")
    targets = TARGET_PRESETS if ctx.data_root else []
    return [*[train_step(runner, f"{preset}_seed{seed}", ["--preset", preset, "--seed", str(seed),
                                                         *ctx.data_args(data_folder(preset))], ctx)
              for preset in presets for seed in ctx.seeds],
            *[train_step(target_runner(), f"targets_{preset}_seed{seed}", ["--preset", preset, "--seed", str(seed),
                                                                          *ctx.data_args("fiqa_2018")], ctx)
              for preset in targets for seed in ctx.seeds],
            *[prompting_step(ctx, runner, PROMPTED_LLM, shots, seed, ctx.data_args("financial_phrasebank"))
              for shots in SHOTS for seed in ctx.seeds]]


def quick_steps(ctx: Context, runner: Runner) -> list[Step]:
    data, model = ctx.assets / "phrasebank", ctx.assets / "tiny_distilbert_phrasebank"
    fiqa, bart, bert = ctx.assets / "fiqa_2018", ctx.assets / "tiny_bart_fiqa", ctx.assets / "tiny_bert_fiqa"
    levels, fiqa_files = synthetic_phrasebank(), synthetic_fiqa()
    sentences = [line.split("@")[0] for lines in levels.values() for line in lines]
    decoder = ctx.assets / "tiny_llama_phrasebank"
    tiny = ["--epochs", "1", "--batch_size", "16", "--max_length", "32", "--learning_rate", "1e-3",
            "--progress", "false"]
    # A prompt needs room (the tiny vocabulary spends a token on every few characters); 4-bit loading is CUDA's.
    llm = ["--max_length", "1000", "--quantization", "none", "--precision", "auto", "--grad_accum_steps", "1"]
    steps = [asset_step(PHASE, "synthetic PhraseBank", data / "Sentences_AllAgree.txt",
                        lambda: write_phrasebank(data, levels)),
             asset_step(PHASE, "synthetic FiQA 2018", fiqa / "task1_post_ABSA_train.json",
                        lambda: write_fiqa(fiqa, fiqa_files)),
             asset_step(PHASE, "tiny DistilBERT", model / "config.json",
                        lambda: write_tiny_bert(model, vocabulary(levels))),
             asset_step(PHASE, "tiny Llama", decoder / "config.json", lambda: write_tiny_decoder(decoder, sentences)),
             *[train_step(runner, f"{preset}_seed{seed}", ["--preset", preset, "--seed", str(seed), *tiny,
                                                          *(llm if is_llm_preset(preset) else []),
                                                          "--model_name_or_path",
                                                          str(decoder if is_llm_preset(preset) else model),
                                                          "--data_dir", str(fiqa if preset.startswith(FIQA) else data)],
                          ctx)
               for preset in PRESETS for seed in ctx.seeds],
             *[prompting_step(ctx, runner, str(decoder), shots, seed, ["--data_dir", str(data), *tiny, *llm])
               for shots in SHOTS for seed in ctx.seeds]]
    if not TARGET_PRESETS:
        return steps
    texts = [entry["sentence"] for content in fiqa_files.values() for entry in content.values()]
    steps += [asset_step(PHASE, "tiny BART", bart / "config.json", lambda: write_tiny_bart(bart, texts)),
              asset_step(PHASE, "tiny BERT", bert / "config.json",
                         lambda: write_tiny_bert(bert, vocabulary(levels), architecture="bert"))]
    for preset in TARGET_PRESETS:  # a tiny stand-in of the preset's kind of model
        stand_in = quick_target_model(TARGET_PRESET_DIR / f"{preset}.json", bart, bert, model)
        steps += [train_step(target_runner(), f"targets_{preset}_seed{seed}",
                             ["--preset", preset, "--seed", str(seed), *tiny, "--model_name_or_path", str(stand_in),
                              "--data_dir", str(fiqa)], ctx) for seed in ctx.seeds]
    return steps


def quick_target_model(preset: Path, bart: Path, bert: Path, distilbert: Path) -> Path:
    """A seq2seq checkpoint stands in for a seq2seq checkpoint, a BERT for a warm start's encoder,
    a DistilBERT for a tagger's."""
    values = json.loads(preset.read_text())
    if values.get("extractor") == "span_tagger":
        return distilbert
    return bert if values.get("encoder_decoder") else bart
