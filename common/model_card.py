"""A model card (`README.md` in the Hugging Face format) beside every saved model.

`write_model_cards` puts one in `checkpoints/best` and in every merged export of a run:
YAML metadata (base_model, datasets, metrics, pipeline_tag, the data's licence and the
test scores as `model-index`), then what a reader needs to trust or doubt the model: the
test scores (mean ± std over seeds where runs of the same experiment with other seeds
sit beside this one), the data and its split, the training config, the code commit and
environment, the warnings of the run, and a line saying when the model is a stand-in for
the study's (a local checkpoint, another data set, a drawn subset).
"""
from __future__ import annotations

import dataclasses
import json
import statistics
from pathlib import Path
from typing import Optional

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from common.hub import is_hub_id
from common.offline_models import describe_stand_in
from common.phases import StudyData, declared_phase
from common.records import atomic_write_text, read_json

DEBUG_KEYS = ("max_train_samples", "max_eval_samples", "max_steps")


def study_model(cfg) -> str:
    """The model the study uses for this config class (its `model_name_or_path` default)."""
    field = next(f for f in dataclasses.fields(type(cfg)) if f.name == "model_name_or_path")
    return field.default


def stand_in_notes(cfg, study: Optional[StudyData], source: str, stand_in: Optional[dict] = None) -> list[str]:
    """Why this model is not the study's: an offline stand-in (`stand_in`, as metrics.json
    records it) or another local checkpoint, other data, a drawn subset."""
    notes = []
    if getattr(cfg, "architecture", "pretrained") != "pretrained":
        pass  # trained from scratch: the study's own small model, whatever the tokenizer's source
    elif stand_in:
        notes.append(f"it was fine-tuned from {describe_stand_in(stand_in)}, converted offline from "
                     f"`{stand_in.get('package', '?')}` by `python -m common.offline_models`")
    elif not is_hub_id(cfg.model_name_or_path):
        notes.append(f"it was fine-tuned from the local checkpoint `{cfg.model_name_or_path}`, a stand-in for "
                     f"the study's `{study_model(cfg)}`")
    if study is not None and getattr(cfg, "dataset", study.name) != study.name:
        notes.append(f"it was trained on `{source}`, not on the study's data set ({study.title})")
    debug = [f"{key}={getattr(cfg, key)}" for key in DEBUG_KEYS if getattr(cfg, key, None)]
    if debug:
        notes.append(f"it was trained or scored on a drawn subset ({', '.join(debug)})")
    return notes


def seed_scores(run_dir: Path, key: str) -> dict[int, float]:
    """`key` of this run and of its finished siblings that differ from it only in the seed."""
    from common.tables import collect_runs, group_key# the report's notion of one experiment

    runs = [run for run in collect_runs(run_dir.parent.parent) if run.phase == run_dir.parent.name]
    this = next((run for run in runs if run.path == run_dir), None)
    if this is None:
        return {}
    return {run.config.get("seed"): run.metrics[key] for run in runs
            if group_key(run) == group_key(this) and isinstance(run.metrics.get(key), (int, float))}


def describe_scores(run_dir: Path, metrics: dict) -> list[str]:
    lines = ["| metric | this run | over seeds |", "|---|---|---|"]
    for key, title in (("test_accuracy", "test accuracy"), ("test_f1_macro", "test macro-F1"),
                       ("val_f1_macro", "validation macro-F1")):
        if key not in metrics:
            continue
        scores = seed_scores(run_dir, key)
        spread = (f"{statistics.mean(scores.values()):.4f} ± {statistics.stdev(scores.values()):.4f} "
                  f"(seeds {', '.join(map(str, sorted(scores)))})") if len(scores) > 1 else "one seed"
        lines.append(f"| {title} | {metrics[key]:.4f} | {spread} |")
    return lines


def card_metadata(cfg, metrics: dict, study: Optional[StudyData], run_name: str, phase: str,
                  pipeline_tag: Optional[str]) -> ModelCardData:
    on_study_data = study is not None and getattr(cfg, "dataset", study.name) == study.name
    dataset_name = study.title if on_study_data else str(metrics.get("data", {}).get("source", "own data"))
    results = [EvalResult(task_type=pipeline_tag or "other", dataset_type=(study.hub_id or study.name)
                          if on_study_data else "custom", dataset_name=dataset_name, dataset_split="test",
                          metric_type=metric, metric_name=name, metric_value=round(metrics[key], 4))
               for key, metric, name in (("test_accuracy", "accuracy", "test accuracy"),
                                         ("test_f1_macro", "f1", "test macro-F1")) if key in metrics]
    licence = {"license": study.license, "license_name": study.license_name, "license_link": study.license_link} \
        if on_study_data and study.license else {}
    return ModelCardData(
        model_name=run_name, base_model=cfg.model_name_or_path if is_hub_id(cfg.model_name_or_path)
        and getattr(cfg, "architecture", "pretrained") == "pretrained" else None,
        datasets=[study.hub_id] if on_study_data and study.hub_id else None, metrics=["accuracy", "f1"],
        pipeline_tag=pipeline_tag, library_name="transformers", tags=[phase], eval_results=results or None,
        **{k: v for k, v in licence.items() if v})


def readable(value, depth: int = 0) -> str:
    """A record as a line of text: `train 3,200 (arabic 400, english 400); val 2,592`."""
    if isinstance(value, dict):
        if not value:
            return "none"
        parts = [f"{key} ({readable(item, depth + 1)})" if isinstance(item, dict) else
                 f"{key} {readable(item, depth + 1)}" for key, item in value.items()]
        return ("; " if depth == 0 else ", ").join(parts)
    if isinstance(value, (list, tuple)):
        return ", ".join(readable(item, depth + 1) for item in value) or "none"
    if isinstance(value, bool) or value is None:
        return str(value).lower()
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def usage(phase: str, pipeline_tag: Optional[str], head: str, architecture: str) -> list[str]:
    """The lines of a card's "How to use": a `pipeline` snippet for a text classifier (with the
    import that registers this repository's model types, where one is needed), else a pointer
    to the phase's own loading code."""
    if pipeline_tag != "text-classification":
        return [f"This model is loaded by the code of `{phase}` in this repository (see its README)."]
    registers = ["import common.heads  # registers the mean-pooling classifier with transformers"] \
        if head == "mean_mlp" else []
    if architecture != "pretrained":
        registers = ["import common.small_transformers  # registers the small encoders with transformers"]
    return ["```python", *registers, "from transformers import pipeline", "",
            'classify = pipeline("text-classification", model="path/to/this/folder")',
            'classify("Operating profit rose to EUR 13.1 mn from EUR 8.7 mn.", top_k=None)  # every label\'s score',
            "```"]


def render_card(run_dir: Path, cfg, metrics: dict, phase: str, study: Optional[StudyData],
                pipeline_tag: Optional[str]) -> ModelCard:
    run_dir = Path(run_dir)
    env = read_json(run_dir / "env.json") if (run_dir / "env.json").exists() else {}
    data = metrics.get("data", {})
    source = str(data.get("source", getattr(cfg, "dataset", "?")))
    notes = stand_in_notes(cfg, study, source, metrics.get("stand_in"))
    body = [f"# {run_dir.name} ({phase})", ""]
    if notes:
        body += ["**This model is a stand-in, not the study's model:** " + "; ".join(notes) + ".", ""]
    scratch = getattr(cfg, "architecture", "pretrained") != "pretrained"
    tokenizer = ("a byte-level BPE tokenizer trained on the run's train split" if getattr(cfg, "train_tokenizer", False)
                 else f"tokenizer `{getattr(cfg, 'tokenizer_name_or_path', None) or cfg.model_name_or_path}`")
    how = f"Trained from scratch ({cfg.architecture}, {tokenizer})" if scratch else \
        f"Fine-tuned from `{cfg.model_name_or_path}`"
    body += [f"{how} by `python -m {phase}.train` of this repository; labels: "
             f"{', '.join(metrics.get('labels', []))}.", ""]
    if scratch:
        body += ["Its architecture is this repository's: `import common.small_transformers` (which registers "
                 "the model type with `transformers`) before loading it.", ""]
    if getattr(cfg, "head", "linear") == "mean_mlp":
        body += ["Its head is this repository's mean-pooling classifier: `import common.heads` (which registers "
                 "the model type with `transformers`) before loading it.", ""]
    body += [ "## Scores (test split of the run's data)", "",
             *describe_scores(run_dir, metrics), ""]
    body += ["## How to use", "", *usage(phase, pipeline_tag, getattr(cfg, "head", "linear"),
                                         getattr(cfg, "architecture", "pretrained")), ""]
    if metrics.get("warnings"):
        body += ["## Warnings of the run", "", *[f"- {w}" for w in metrics["warnings"]], ""]
    body += ["## Data", "", f"- source: `{source}`" + (f" ({study.title})" if study and source != study.name and
                                                       getattr(cfg, "dataset", None) == study.name else ""),
             f"- split: {data.get('split', 'as the data set publishes it')}",
             f"- examples per split: {readable(data.get('sizes', {}))}",
             *([f"- drawn subsets (stratified, seed {data['subset'].get('seed')}): "
                f"{readable({k: v for k, v in data['subset'].items() if k not in ('seed', 'stratified_by')})}"]
               if data.get("subset") else []),
             f"- cleaning: {readable(data.get('cleaning', {}))}",
             f"- validation/test inputs also in train: {readable(data.get('leaks', {}))}", ""]
    if study and getattr(cfg, "dataset", study.name) == study.name and study.license:
        body += [f"The data's licence ({study.license_name or study.license}) applies to this model.", ""]
    else:
        body += ["The licence of the data it was trained on applies to this model.", ""]
    body += ["## Training config", "", "```json", json.dumps(dataclasses.asdict(cfg), indent=1, default=str), "```", "",
             "## Provenance", "",
             f"- code commit: `{env.get('git_commit', 'unknown')}`" + (" (with uncommitted changes)"
                                                                       if env.get("git_dirty") else ""),
             f"- device: {env.get('device', '?')}; python {env.get('python', '?')}; "
             + ", ".join(f"{k} {v}" for k, v in env.get("packages", {}).items()),
             f"- started: {env.get('started_at', '?')}; epochs trained {metrics.get('epochs_trained', '?')}, "
             f"best epoch {metrics.get('best_epoch', '?')}, {metrics.get('seconds_per_epoch', 0):.1f} s/epoch", ""]
    data_card = card_metadata(cfg, metrics, study, run_dir.name, phase, pipeline_tag)
    return ModelCard(f"---\n{data_card.to_yaml()}\n---\n\n" + "\n".join(body))


def write_model_cards(run_dir: Path, cfg, metrics: dict, phase: str, pipeline_tag: Optional[str] = None) -> list[Path]:
    """`README.md` in `checkpoints/best` and in every merged export of the run, with what
    `phase` declares of its study's data and pipeline task (common/phases.py; `pipeline_tag`
    names another task, for a phase's models of another kind); their paths."""
    declaration = declared_phase(phase)
    card = render_card(run_dir, cfg, metrics, phase, declaration.study_data if declaration else None,
                       pipeline_tag or (declaration.pipeline_tag if declaration else None))
    written = []
    for name in ("best", "merged"):
        directory = Path(run_dir) / "checkpoints" / name
        if directory.is_dir():
            atomic_write_text(directory / "README.md", str(card))
            written.append(directory / "README.md")
    return written
