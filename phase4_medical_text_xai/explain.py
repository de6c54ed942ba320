"""Explain a trained phase 4 model's test predictions with attention rollout, Integrated
Gradients and conservative LRP; score each method's faithfulness against a random ranking;
write HTML pages and figures. Works from a saved run, without retraining.

Usage:
    python -m phase4_medical_text_xai.explain --run runs/phase4_medical_text_xai/roberta_seed42
    python -m phase4_medical_text_xai.explain --run <run dir> --n 50 --methods ig,lrp --ig_tolerance 0.001

Reads <run>/checkpoints/best and <run>/predictions.csv (the run's test split); writes
<run>/explanations/: index.html and example_NNNN.html, attention/example_NNNN.png,
examples.jsonl (tokens, attributions, checks, curves), faithfulness.json and
faithfulness.png. An interrupted call resumes: examples already explained with the same
settings are kept.
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional, Sequence

from typing import TYPE_CHECKING

import numpy as np
from tqdm.auto import tqdm

from common.cli import exit_on_bad_input
from common.errors import ConfigError, DataError, describe
from common.records import read_json, write_json
from phase4_medical_text_xai.config import Phase4Config
from phase4_medical_text_xai.faithfulness import perturbation_curves, summarize, window_probabilities
from phase4_medical_text_xai.html_report import example_name, write_example_page, write_index

if TYPE_CHECKING:  # torch, captum, transformers and matplotlib load where they are used: `--help` starts at once
    import torch

METHODS = ("attention", "ig", "lrp")


@dataclass(frozen=True)
class ExplainSettings:
    """How each example is explained and scored (kept with the explanations: a re-run with
    the same settings reuses the examples already explained)."""

    ig_steps: int = 32  # integration steps of Integrated Gradients: the first try
    ig_tolerance: float = 0.01  # steps double until |delta| <= this share of |f(x) - f(baseline)|; 0: fixed steps
    ig_max_steps: int = 512  # the doubling stops here
    ig_batch_size: int = 16  # path points per forward pass (memory vs speed)
    fractions: int = 10  # deletion/insertion curves at 0, 1/F, ..., 1 of the content tokens
    seed: int = 0  # of the random reference ranking


DEFAULTS = ExplainSettings()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(allow_abbrev=False, description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", required=True, help="Run directory written by phase4_medical_text_xai.train.")
    parser.add_argument("--n", type=int, default=20, help="Number of test examples to explain (the first n "
                        "of the run's test split, in its predictions.csv order).")
    parser.add_argument("--methods", default=",".join(METHODS), help=f"Comma-separated subset of {', '.join(METHODS)}"
                        " (a random ranking is always scored as the reference).")
    parser.add_argument("--ig_steps", type=int, default=DEFAULTS.ig_steps, help="Integration steps of Integrated "
                        "Gradients (the first try; see --ig_tolerance).")
    parser.add_argument("--ig_tolerance", type=float, default=DEFAULTS.ig_tolerance, help="The steps double until "
                        "the completeness gap |delta| is at most this share of |f(x) - f(baseline)|; 0 keeps "
                        "--ig_steps fixed.")
    parser.add_argument("--ig_max_steps", type=int, default=DEFAULTS.ig_max_steps, help="Most steps the doubling "
                        "reaches; an example still outside the tolerance there is counted in the checks.")
    parser.add_argument("--ig_batch_size", type=int, default=DEFAULTS.ig_batch_size, help="Path points per forward "
                        "pass (IG's internal batching: memory vs speed).")
    parser.add_argument("--fractions", type=int, default=DEFAULTS.fractions, help="Deletion/insertion curves use "
                        "fractions 0, 1/F, ..., 1 of the content tokens.")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N.")
    parser.add_argument("--seed", type=int, default=DEFAULTS.seed, help="Seed of the random reference ranking.")
    parser.add_argument("--out", default=None, help="Output folder (default: <run>/explanations).")
    return parser


def parse_methods(text: str) -> list[str]:
    methods = [m.strip() for m in text.split(",") if m.strip()]
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise ConfigError(f"--methods: unknown method(s) {', '.join(map(repr, unknown)) or '(none given)'}; "
                          f"choose from {', '.join(METHODS)}")
    return list(dict.fromkeys(methods))


def load_run(run_dir: Path, device: torch.device):
    """(model, tokenizer, test predictions, run config) of a finished run."""
    import pandas as pd

    from common.checkpoint import find_checkpoint
    from common.heads import MeanPoolingClassifierConfig
    from common.models import load_tokenizer, load_trained_classifier

    if not run_dir.is_dir():
        raise DataError(f"run directory {run_dir} does not exist")
    checkpoint = find_checkpoint(run_dir / "checkpoints" / "best")
    if checkpoint is None:
        raise DataError(f"{run_dir} has no checkpoint in checkpoints/best: train the run to the end first "
                        "(or resume it with --resume)")
    predictions_path = run_dir / "predictions.csv"
    if not predictions_path.is_file():
        raise DataError(f"{run_dir} has no predictions.csv: explanations cover the run's test split, which "
                        "a run with evaluate_test false never scored")
    config = read_json(run_dir / "config.json")["config"] if (run_dir / "config.json").is_file() else {}
    if read_json(checkpoint / "config.json").get("model_type") == MeanPoolingClassifierConfig.model_type:
        raise ConfigError(f"{run_dir} was trained with head mean_mlp; the explanations read a model's own "
                          "attention and layers (train with head linear to explain it)")
    model = load_trained_classifier(checkpoint, attn_implementation="eager").to(device).eval()
    try:
        predictions = pd.read_csv(predictions_path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(f"{predictions_path} cannot be read as a table ({describe(exc)})") from None
    missing = [column for column in ("text", "label") if column not in predictions.columns]
    if missing:
        raise DataError(f"{predictions_path} has no column {', '.join(map(repr, missing))} (columns: "
                        f"{', '.join(predictions.columns)}): it is not a phase 4 run's predictions file")
    return model, load_tokenizer(str(checkpoint)), predictions, config


def read_finished_examples(path: Path) -> dict[int, dict]:
    """The examples a previous call explained, by index; a last line cut short by a kill is
    dropped (that example is explained again)."""
    finished = {}
    lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
    for number, line in enumerate(lines, start=1):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            if number == len(lines):
                print(f"note: the last line of {path} was cut short; that example is explained again")
                break
            raise DataError(f"{path}, line {number}: not valid JSON; delete the file to explain every example "
                            "anew") from None
        finished[record["index"]] = record
    return finished


READING_KEYS = ("max_length", "long_inputs", "head_tokens", "chunk_stride", "max_chunks", "chunk_pooling")


def how_the_run_read(config: dict) -> Phase4Config:
    """The run's max_length and long_inputs keys (defaults for a run that predates a key):
    explanations read each abstract as training and evaluation did."""
    return Phase4Config(**{key: config[key] for key in READING_KEYS if key in config})


def window_batch(ids: Sequence[int], device: torch.device) -> dict:
    """One window as a one-example batch."""
    import torch

    input_ids = torch.tensor([list(ids)], device=device)
    return {"input_ids": input_ids, "attention_mask": torch.ones_like(input_ids)}


def gather_scores(per_window: Sequence[np.ndarray], positions: Sequence[Sequence[int]], weights: torch.Tensor,
                  n_tokens: int) -> np.ndarray:
    """The text's token scores: each window's scores times its pooling weight, added onto
    the text tokens its positions hold (a token two windows share gets both parts)."""
    scores = np.zeros(n_tokens)
    for window_scores, held, weight in zip(per_window, positions, weights.tolist()):
        if weight:
            for score, position in zip(np.asarray(window_scores, float), held):
                if position >= 0:
                    scores[position] += weight * score
    return scores


def combine_checks(checks: Sequence[dict], weights: torch.Tensor) -> dict:
    """A method's checks for the text: each window's figures weighted as its logit is in
    the pooled one (completeness and conservation are linear, so they carry over); IG's
    steps are summed over the windows."""
    used = [(c, w) for c, w in zip(checks, weights.tolist()) if w]
    counts = ("conservation_error", "steps", "within_tolerance")  # not linear: combined below
    combined = {key: sum(w * c[key] for c, w in used) for key in used[0][0] if key not in counts}
    if "steps" in used[0][0]:  # IG: the passes every window took; within the bound only if every window is
        combined["steps"] = sum(c["steps"] for c, _ in used)
        combined["within_tolerance"] = all(c["within_tolerance"] for c, _ in used)
    if "token_relevance" in combined:  # LRP: the relative error of the text's sum
        total = combined["token_relevance"] + combined["bias_relevance"]
        combined["conservation_error"] = abs(total - combined["logit"]) / max(1.0, abs(combined["logit"]))
    return combined


def explain_example(model, tokenizer, row, index: int, methods: Sequence[str], settings: ExplainSettings,
                    reading, device: torch.device, attention_dir: Path) -> dict:
    """Every method's token scores for the predicted class of one abstract, their checks,
    timings and faithfulness curves. The abstract is read as the run read it (`reading`:
    its max_length and long_inputs keys): each window is explained on its own, and the
    scores are weighted as the windows' logits are pooled and put back onto the text's
    tokens, so they shade the original text (one window: the scores of that window)."""
    import torch

    from phase4_medical_text_xai.attention import attention_rollout, attention_weights, plot_attention
    from phase4_medical_text_xai.integrated_gradients import adaptive_integrated_gradients
    from phase4_medical_text_xai.long_inputs import (pool_logits, pooling_weights, read_documents, special_frame,
                                                     window_input_ids)
    from phase4_medical_text_xai.lrp import CONSERVATION_TOLERANCE, lrp_relevance

    document = read_documents(tokenizer, [row.text], reading)[0]
    frame = special_frame(tokenizer)
    windows = [window_input_ids(frame, document, window) for window in document.windows]
    positions = [held for _, held in windows]
    batches = [window_batch(ids, device) for ids, _ in windows]
    label_names = [model.config.id2label[i] for i in range(model.config.num_labels)]
    attributions, checks, seconds = {}, {}, {}

    start = time.perf_counter()
    read = [attention_weights(model, batch) for batch in batches]
    window_logits = torch.stack([logits for logits, _ in read]).float().cpu()
    logits = pool_logits(window_logits, torch.zeros(len(read), dtype=torch.long), 1, reading.chunk_pooling)[0]
    target = int(logits.argmax())
    weights = pooling_weights(window_logits, target, reading.chunk_pooling)
    shown = int(weights.argmax())  # the window whose attention is drawn: the first of the heaviest
    n_tokens = len(document.ids)
    if "attention" in methods:
        rollouts = [attention_rollout(attentions)[0].cpu().numpy() for _, attentions in read]
        attributions["attention"] = gather_scores(rollouts, positions, weights, n_tokens)
        seconds["attention"] = time.perf_counter() - start
        of = f" (window {shown + 1} of {len(read)})" if len(read) > 1 else ""
        ids = windows[shown][0]
        plot_attention(read[shown][1], rollouts[shown], tokenizer.convert_ids_to_tokens(ids),
                       attention_dir / f"{example_name(index)}.png",
                       title=f"Example {index}: attention of the first token{of} (predicted {label_names[target]})",
                       special=[token in tokenizer.all_special_ids for token in ids])
    if "ig" in methods:
        start = time.perf_counter()
        results = [adaptive_integrated_gradients(model, tokenizer, batch, target, settings.ig_steps,
                                                 settings.ig_batch_size, tolerance=settings.ig_tolerance,
                                                 max_steps=settings.ig_max_steps)
                   if weight else (None, None) for batch, weight in zip(batches, weights.tolist())]
        attributions["ig"] = gather_scores([r[0].cpu().numpy() if r[0] is not None else None for r in results],
                                           positions, weights, n_tokens)
        checks["ig"] = combine_checks([r[1] for r in results], weights)
        seconds["ig"] = time.perf_counter() - start
    if "lrp" in methods:
        start = time.perf_counter()
        results = [lrp_relevance(model, batch, target) if weight else (None, None)
                   for batch, weight in zip(batches, weights.tolist())]
        attributions["lrp"] = gather_scores([r[0].cpu().numpy() if r[0] is not None else None for r in results],
                                            positions, weights, n_tokens)
        checks["lrp"] = combine_checks([r[1] for r in results], weights)
        seconds["lrp"] = time.perf_counter() - start
        if checks["lrp"]["conservation_error"] > CONSERVATION_TOLERANCE:
            raise ConfigError(f"LRP relevance of example {index} does not sum to the logit (relative error "
                              f"{checks['lrp']['conservation_error']:.2e} > {CONSERVATION_TOLERANCE}): "
                              f"{type(model).__name__} uses an operation the conservative rules do not cover")
    read_tokens = np.zeros(n_tokens, dtype=bool)  # the tokens some window holds: the ones ranked
    read_tokens[[p for held in positions for p in held if p >= 0]] = True
    attributions["random"] = np.random.default_rng([settings.seed, index]).random(n_tokens)
    seconds["random"] = 0.0

    fractions = np.linspace(0, 1, settings.fractions + 1)
    replacement = tokenizer.mask_token_id if tokenizer.mask_token_id is not None else tokenizer.pad_token_id
    probabilities = window_probabilities(model, [ids for ids, _ in windows], positions, target, replacement,
                                         tokenizer.pad_token_id, reading.chunk_pooling)
    faithfulness = {method: perturbation_curves(probabilities, scores, read_tokens, fractions)
                    for method, scores in attributions.items()}
    probs = torch.softmax(logits, -1).numpy()
    shown_end = max((document.offsets[p][1] for held in positions for p in held if p >= 0), default=0)
    return {"index": index, "text": row.text[:shown_end], "truncated": document.cut > 0, "tokens_cut": document.cut,
            "windows": len(windows), "label": str(row.label), "prediction": label_names[target],
            "probs": {name: float(p) for name, p in zip(label_names, probs)},
            "tokens": tokenizer.convert_ids_to_tokens(document.ids), "offsets": document.offsets,
            "unread": (~read_tokens).tolist(),
            "attributions": {m: np.asarray(s, float).tolist() for m, s in attributions.items()},
            "checks": checks, "seconds": seconds, "faithfulness": faithfulness}


def explain_run(run_dir: Path, n: int = 20, methods: Sequence[str] = METHODS, *, device: str = "auto",
                out: Optional[Path] = None, **settings) -> Path:
    """Explain the first `n` test examples of a run; return the output folder. `settings`
    are the fields of `ExplainSettings` (ig_steps, ig_tolerance, ig_max_steps, ig_batch_size, fractions, seed)."""
    import torch

    from common.device import resolve_device
    from phase4_medical_text_xai.plots import plot_faithfulness_curves

    settings = ExplainSettings(**settings)
    for name, value in (("n", n), ("ig_steps", settings.ig_steps), ("ig_batch_size", settings.ig_batch_size),
                        ("fractions", settings.fractions), ("ig_max_steps", settings.ig_max_steps)):
        if value < 1:
            raise ConfigError(f"--{name} must be at least 1, got {value}")
    if not 0 <= settings.ig_tolerance < 1:
        raise ConfigError(f"--ig_tolerance must be in [0, 1), got {settings.ig_tolerance}")
    device = resolve_device(device)
    model, tokenizer, predictions, config = load_run(run_dir, device)
    reading = how_the_run_read(config)
    out = Path(out or run_dir / "explanations")
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file; explanations are a folder (settings, examples, pages)")
    recorded = {"methods": list(methods), "ig_steps": settings.ig_steps, "ig_tolerance": settings.ig_tolerance,
                "ig_max_steps": settings.ig_max_steps, "fractions": settings.fractions,
                "seed": settings.seed, **{key: getattr(reading, key) for key in READING_KEYS}}
    done = {}
    if (out / "settings.json").is_file() and read_json(out / "settings.json") == recorded:
        done = read_finished_examples(out / "examples.jsonl")
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "settings.json", recorded)
    records = []
    with open(out / "examples.jsonl", "w", encoding="utf-8") as log:  # rewritten with what is kept, then appended
        for index, row in enumerate(tqdm(list(predictions.head(n).itertuples()), desc="explaining", unit="example")):
            record = done.get(index) or explain_example(model, tokenizer, row, index, methods, settings, reading,
                                                        device, out / "attention")
            log.write(json.dumps(record) + "\n")
            log.flush()  # an interrupted call keeps every finished example
            records.append(record)
    all_methods = [*methods, "random"]
    result = {"run": run_dir.name, "run_dir": str(run_dir), "model": str(config.get("model_name_or_path", "?")),
              "device": str(device) if device.type == "cpu" else torch.cuda.get_device_name(device),
              "n": len(records), "methods": all_methods,
              "fractions": np.linspace(0, 1, settings.fractions + 1).tolist(),
              "replacement": tokenizer.mask_token or tokenizer.pad_token, "ig_steps": settings.ig_steps,
              "ig_tolerance": settings.ig_tolerance,
              "summary": summarize(records, all_methods),
              "seconds_per_example": {m: float(np.mean([r["seconds"][m] for r in records])) for m in all_methods},
              "checks": summarize_checks(records), "accuracy_of_explained": float(np.mean(
                  [r["label"] == r["prediction"] for r in records])),
              "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    write_json(out / "faithfulness.json", result)
    plot_faithfulness_curves(result, out / "faithfulness.png")
    for record in records:
        write_example_page(record, methods, out)
    write_index(records, result, out)
    print_summary(result, out)
    return out


def summarize_checks(records: Sequence[dict]) -> dict:
    checks = {}
    ig = [r["checks"]["ig"] for r in records if "ig" in r["checks"]]
    if ig:
        checks["ig_abs_delta_max"] = max(abs(c["delta"]) for c in ig)
        checks["ig_abs_delta_mean"] = float(np.mean([abs(c["delta"]) for c in ig]))
        if all("steps" in c for c in ig):
            checks["ig_steps_mean"] = float(np.mean([c["steps"] for c in ig]))
            checks["ig_outside_tolerance"] = sum(not c["within_tolerance"] for c in ig)
    lrp = [r["checks"]["lrp"] for r in records if "lrp" in r["checks"]]
    if lrp:
        checks["lrp_conservation_error_max"] = max(c["conservation_error"] for c in lrp)
        checks["lrp_token_share_mean"] = float(np.mean([c["token_relevance"] / c["logit"] for c in lrp if c["logit"]]))
    return checks


def print_summary(result: dict, out: Path) -> None:
    print(f"{result['n']} examples explained -> {out / 'index.html'}")
    for method, entry in result["summary"].items():
        print(f"  {method:9s} comprehensiveness {entry['comprehensiveness']['mean']:.3f}  sufficiency "
              f"{entry['sufficiency']['mean']:.3f}  deletion AUC {entry['deletion_auc']['mean']:.3f}  insertion AUC "
              f"{entry['insertion_auc']['mean']:.3f}  {result['seconds_per_example'][method]:.2f} s/example")
    print("  checks: " + ", ".join(f"{k} {v:.3g}" for k, v in result["checks"].items()))


def main(argv: Optional[Sequence[str]] = None) -> None:
    def entry() -> None:
        args = build_parser().parse_args(argv)
        explain_run(Path(args.run), args.n, parse_methods(args.methods), device=args.device,
                    out=Path(args.out) if args.out else None, ig_steps=args.ig_steps, ig_tolerance=args.ig_tolerance,
                    ig_max_steps=args.ig_max_steps, ig_batch_size=args.ig_batch_size, fractions=args.fractions,
                    seed=args.seed)

    exit_on_bad_input(entry)


if __name__ == "__main__":
    main()
