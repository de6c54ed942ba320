"""Phase 1 steps of `python -m common.reproduce`: one run per preset (each a row of the
phase 1 tables); quick: the same presets on a tiny DistilBERT and a synthetic PhraseBank
(and synthetic FiQA files). The FiQA presets (`fiqa_*`) read the challenge's files, which
have no hub copy: they run with --data_root only."""
from __future__ import annotations

import json
from pathlib import Path

from common.hub import HubRef, is_hub_id
from common.phases import Runner
from common.reproduce import Context, Step, asset_step, train_step
from common.random_encoders import write_tiny_bart, write_tiny_bert
from phase1_financial_phrasebank.config import PHASE, PRESET_DIR
from phase1_financial_phrasebank.fiqa.target_config import PRESET_DIR as TARGET_PRESET_DIR, TargetConfig
from phase1_financial_phrasebank.synthetic import (synthetic_fiqa, synthetic_phrasebank, vocabulary, write_fiqa,
                                                   write_phrasebank)

PRESETS = sorted(path.stem for path in PRESET_DIR.glob("*.json"))
FIQA = "fiqa_"  # the presets of the FiQA 2018 tasks
TARGET_PRESETS = sorted(path.stem for path in TARGET_PRESET_DIR.glob("*.json"))  # FiQA target extraction


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
              for preset in targets for seed in ctx.seeds]]


def quick_steps(ctx: Context, runner: Runner) -> list[Step]:
    data, model = ctx.assets / "phrasebank", ctx.assets / "tiny_distilbert_phrasebank"
    fiqa, bart, bert = ctx.assets / "fiqa_2018", ctx.assets / "tiny_bart_fiqa", ctx.assets / "tiny_bert_fiqa"
    levels, fiqa_files = synthetic_phrasebank(), synthetic_fiqa()
    tiny = ["--epochs", "1", "--batch_size", "16", "--max_length", "32", "--learning_rate", "1e-3",
            "--progress", "false"]
    steps = [asset_step(PHASE, "synthetic PhraseBank", data / "Sentences_AllAgree.txt",
                        lambda: write_phrasebank(data, levels)),
             asset_step(PHASE, "synthetic FiQA 2018", fiqa / "task1_post_ABSA_train.json",
                        lambda: write_fiqa(fiqa, fiqa_files)),
             asset_step(PHASE, "tiny DistilBERT", model / "config.json",
                        lambda: write_tiny_bert(model, vocabulary(levels))),
             *[train_step(runner, f"{preset}_seed{seed}", ["--preset", preset, "--seed", str(seed), *tiny,
                                                          "--model_name_or_path", str(model), "--data_dir",
                                                          str(fiqa if preset.startswith(FIQA) else data)], ctx)
               for preset in PRESETS for seed in ctx.seeds]]
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
