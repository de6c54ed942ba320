"""Typed run configs: dataclass defaults < JSON preset < `--key value` overrides.

A phase config is a dataclass that extends `TrainConfig` (the keys of the command-line
contract shared by every phase). Each field carries its help text, and optionally its
allowed `choices`, in `field(metadata=...)`, as HF `run_glue.py` does. Unknown keys, in a
preset or on the command line, are errors that list the valid keys: a typo must never
silently fall back to a default.
"""
from __future__ import annotations

import argparse
import dataclasses
import difflib
import functools
import json
import math
import sys
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

from common.errors import ConfigError
from common.paths import check_relative_name
from common.optim import OPTIMIZERS, SCHEDULES, check_optimizer_config
from common.tracking import chosen_trackers


def option(default: Any, help: str, choices: Sequence[Any] | None = None, *, at_least: float | None = None,
           above: float | None = None, below: float | None = None, at_most: float | None = None) -> Any:
    """A dataclass field with help text and its domain (allowed values, or bounds on a
    number: `at_least`/`above` below it, `below`/`at_most` above it; for a list, on each
    item) for `--help` and validation."""
    metadata = {"help": help}
    if choices is not None:
        metadata["choices"] = tuple(choices)
    bounds = {name: bound for name, bound in (("at_least", at_least), ("above", above), ("below", below),
                                              ("at_most", at_most)) if bound is not None}
    if bounds:
        metadata["bounds"] = bounds
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass
class TrainConfig:
    """Keys every phase has, with the same meaning (the command-line contract)."""

    model_name_or_path: str = option("distilbert/distilbert-base-uncased", "Hub id or local directory of the model.")
    data_dir: Optional[str] = option(None, "Local data directory; unset means download from the Hugging Face hub.")
    output_dir: str = option("runs", "Root of run directories: <output_dir>/<phase>/<run_name>/.")
    run_name: Optional[str] = option(None, "Run directory name; default '<preset>_seed<seed>', with the model's name "
                                     "first when model_name_or_path is given on the command line.")
    device: str = option("auto", "'auto' (CUDA when present), 'cpu', 'cuda' or 'cuda:N'.")
    precision: str = option("auto", "Autocast dtype: auto = bf16 on GPUs that support it, else fp16 "
                            "with a gradient scaler; fp32 on CPU.", ("auto", "fp32", "bf16", "fp16"))
    seed: int = option(42, "Seed for python, numpy and torch; set before the model is built.", at_least=0)
    epochs: int = option(3, "Number of training epochs.", at_least=1)
    batch_size: int = option(32, "Training batch size per optimizer step (before accumulation).", at_least=1)
    eval_batch_size: int = option(64, "Batch size for evaluation.", at_least=1)
    optimizer: str = option("adamw", "adamw (torch, fused where available); adafactor (external learning rate "
                            "that follows the schedule); adafactor_relative (Adafactor's own step size: needs "
                            "learning_rate none); sgd (with momentum).", OPTIMIZERS)
    fused_adamw: bool = option(True, "adamw: use torch's fused kernel where it has one (CUDA; CPU since torch 2.4); "
                               "false: the multi-tensor (foreach) kernel, e.g. to measure what fusing gains.")
    learning_rate: Optional[float] = option(5e-5, "Peak learning rate ('none' only with adafactor_relative).",
                                            above=0)
    weight_decay: float = option(0.01, "Weight decay (not applied to biases and norms; decoupled for AdamW and "
                                 "Adafactor, L2 for SGD).", at_least=0)
    momentum: float = option(0.9, "SGD momentum.", at_least=0, below=1)
    warmup_ratio: float = option(0.1, "Fraction of optimizer steps spent warming up the learning rate.",
                                 at_least=0, at_most=1)
    lr_scheduler: str = option("linear", "Learning-rate schedule after warmup (constant: constant after warmup).",
                               SCHEDULES)
    polynomial_power: float = option(2.0, "Power of the polynomial schedule's decay to zero.", above=0)
    grad_accum_steps: int = option(1, "Batches accumulated per optimizer step.", at_least=1)
    max_grad_norm: float = option(1.0, "Gradient clipping norm; 0 disables clipping.", at_least=0)
    early_stopping_patience: int = option(0, "Stop after this many epochs without a better validation "
                                          "macro-F1; 0 disables early stopping.", at_least=0)
    group_by_length: bool = option(True, "Batch training examples of similar length (less padding).")
    torch_compile: bool = option(False, "Train and validate through torch.compile (inductor): the first batch of "
                                 "each mode compiles (minutes on a CPU) and a batch of a new shape once more, with "
                                 "dynamic shapes; the final evaluation runs the reloaded best checkpoint eagerly.")
    evaluate_test: bool = option(True, "Score the test split at the end. Tuning trials set it false: "
                                 "hyperparameters are chosen on validation data alone.")
    max_length: int = option(128, "Maximum tokens per example; longer inputs are truncated.", at_least=4)
    max_train_samples: Optional[int] = option(None, "Train on N examples drawn at random, stratified by label and "
                                              "group (language), with split_seed (the same subset for every "
                                              "seed); validation and test stay whole. Recorded as data.subset.",
                                              at_least=1)
    max_eval_samples: Optional[int] = option(None, "Debug: evaluate on N examples of each eval split, drawn "
                                              "like max_train_samples.",
                                              at_least=1)
    max_steps: Optional[int] = option(None, "Debug: stop each epoch after N optimizer steps.", at_least=1)
    evaluate_before_training: bool = option(True, "Score the untrained model on validation and test first (the "
                                            "'before' columns); false skips that pass.")
    num_workers: int = option(0, "DataLoader worker processes.", at_least=0)
    progress: bool = option(True, "Show progress bars.")
    report_to: list[str] = option(["tensorboard"], "Live logs (common/tracking.py), several comma-separated: "
                                  "tensorboard (event files in the run directory), mlflow (MLFLOW_TRACKING_URI, "
                                  "else <output_dir>/mlflow.db), wandb, or none.", ("none", "tensorboard",
                                                                                  "mlflow", "wandb"))
    logging_steps: int = option(50, "Log the training loss and learning rate to the trackers every N optimizer "
                                "steps, and at least four times an epoch.", at_least=1)
    allow_known_overlap: bool = option(False, "Run a checkpoint on a data set it is known to have been trained "
                                       "on (common/known_overlap.py); its test scores then measure memory, not "
                                       "generalisation.")
    resume: bool = option(False, "Continue the run from <run dir>/checkpoints/last.")
    overwrite: bool = option(False, "Replace an existing run directory of the same name.")

    def __post_init__(self) -> None:
        # Each key's domain, then keys that are valid alone but not together: checked when the
        # config is built, however it is built, before any data is read or run directory made.
        check_domains(self)
        check_run_name(self.run_name)
        check_optimizer_config(self)
        chosen_trackers(self.report_to)


def field_bounds(cls: type, name: str) -> Optional[dict]:
    """A field's bounds; a phase that redeclares a field for its own default keeps the
    bounds the base config gave it."""
    for klass in cls.__mro__:
        for f in dataclasses.fields(klass) if dataclasses.is_dataclass(klass) else ():
            if f.name == name and "bounds" in f.metadata:
                return f.metadata["bounds"]
    return None


def check_domains(cfg: Any) -> None:
    """Every field of `cfg` against its declared type, choices and bounds."""
    hints = _field_types(type(cfg))
    for f in dataclasses.fields(cfg):
        _check_value(f.name, getattr(cfg, f.name), hints[f.name], f.metadata.get("choices"),
                     field_bounds(type(cfg), f.name))


def check_run_name(run_name: Optional[str]) -> None:
    """A run name is a relative folder path of plain names (a sweep's trials use
    `sweep_<study>/trials/<key>`): no absolute path, '..', '.', '~' or backslash, so that
    nothing is ever written or deleted outside <output_dir>/<phase>/."""
    if run_name is not None:
        check_relative_name(run_name, "run_name", "runs always live in <output_dir>/<phase>/<run_name>")


def config_keys(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


@functools.lru_cache(maxsize=None)
def _field_types(cls: type) -> dict[str, Any]:
    """The resolved annotations of a config class, once per class (resolving them evaluates
    every annotation string of the class and its bases: a second per key and parse)."""
    return typing.get_type_hints(cls)


def _base_type(annotation: Any) -> tuple[Any, bool]:
    """(inner type, accepts None) for `X`, `Optional[X]` and `X | None`."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return args[0], len(args) < len(typing.get_args(annotation))
    return annotation, False


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "y", "on"):
        return True
    if lowered in ("0", "false", "no", "n", "off"):
        return False
    raise ValueError(f"expected true/false, got {text!r}")


def parse_value(key: str, text: str, annotation: Any) -> Any:
    """Convert one command-line string to the type the field declares."""
    base, nullable = _base_type(annotation)
    if nullable and text.strip().lower() in ("none", "null", ""):
        return None
    try:
        if base is bool:
            return _parse_bool(text)
        if typing.get_origin(base) in (list, tuple):
            (item,) = typing.get_args(base)[:1]
            return [item(part.strip()) for part in text.split(",") if part.strip()]
        return base(text)
    except ValueError as exc:
        raise ConfigError(f"--{key}: cannot read {text!r} as {getattr(base, '__name__', base)}: {exc}") from None


BOUND_TESTS = {"at_least": (lambda v, b: v >= b, ">="), "above": (lambda v, b: v > b, ">"),
               "below": (lambda v, b: v < b, "<"), "at_most": (lambda v, b: v <= b, "<=")}


def describe_domain(bounds: dict) -> str:
    """'positive', 'non-negative', or the bounds as relations ('>= 0 and < 1')."""
    if bounds == {"above": 0}:
        return "positive"
    if bounds == {"at_least": 0}:
        return "non-negative"
    return " and ".join(f"{BOUND_TESTS[name][1]} {bound:g}" for name, bound in bounds.items())


def _check_bounds(key: str, values: Sequence[Any], bounds: dict | None) -> None:
    for value in values if bounds else []:
        if isinstance(value, (int, float)) and not all(BOUND_TESTS[name][0](value, bound)
                                                       for name, bound in bounds.items()):
            raise ConfigError(f"{key} must be {describe_domain(bounds)}, got {value!r}")


def _check_value(key: str, value: Any, annotation: Any, choices: Sequence[Any] | None,
                 bounds: dict | None = None) -> Any:
    """Type-check a value from a preset (JSON has its own types), its allowed choices and bounds."""
    base, nullable = _base_type(annotation)
    if value is None:
        if not nullable:
            raise ConfigError(f"{key}: None is not allowed")
        return None
    expected = typing.get_origin(base) or base
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if expected is tuple and isinstance(value, list):
        value = tuple(value)
    if expected in (list, tuple) and isinstance(value, str):
        value = parse_value(key, value, base)
    ok = isinstance(value, expected) and not (expected is int and isinstance(value, bool))
    if not ok:
        raise ConfigError(f"{key}: expected {getattr(expected, '__name__', expected)}, got {value!r}")
    values = value if expected in (list, tuple) else [value]
    if choices is not None:
        bad = [v for v in values if v not in choices]
        if bad:
            raise ConfigError(f"{key}: {bad[0]!r} is not one of {', '.join(map(str, choices))}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{key}: {value!r} is not a finite number")
    _check_bounds(key, values, bounds)
    return value


def _unknown_key_error(cls: type, bad: Sequence[str], where: str) -> ConfigError:
    keys = config_keys(cls)
    hints = []
    for key in bad:
        close = difflib.get_close_matches(key, keys, n=1)
        hints.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    return ConfigError(f"unknown config key{'s' if len(bad) > 1 else ''} {', '.join(hints)} in {where}. "
                       f"Valid keys: {', '.join(keys)}")


def build_config(cls: type, values: dict[str, Any], where: str = "config") -> Any:
    """Instantiate `cls` from a dict, rejecting unknown keys and ill-typed values."""
    unknown = [k for k in values if k not in config_keys(cls)]
    if unknown:
        raise _unknown_key_error(cls, unknown, where)
    hints = _field_types(cls)
    checked = {}
    for f in dataclasses.fields(cls):
        if f.name in values:
            checked[f.name] = _check_value(f.name, values[f.name], hints[f.name], f.metadata.get("choices"),
                                           field_bounds(cls, f.name))
    return cls(**checked)  # __post_init__ checks every value (defaults too) and combinations of keys


def list_presets(preset_dir: Path) -> list[str]:
    return sorted(p.stem for p in Path(preset_dir).glob("*.json"))


def load_preset(name: str, preset_dir: Path) -> dict[str, Any]:
    """Read a preset by name (from the phase's presets/) or by path to a JSON file."""
    path = Path(name) if name.endswith(".json") else Path(preset_dir) / f"{name}.json"
    if not path.is_file():
        raise ConfigError(f"unknown preset {name!r}; available presets: {', '.join(list_presets(preset_dir))}")
    try:
        values = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ConfigError(f"preset {path} is not valid JSON: {exc}") from None
    if not isinstance(values, dict):
        raise ConfigError(f"preset {path} must hold a JSON object of config keys")
    return values


def build_parser(cls: type, preset_dir: Path, description: str | None = None) -> argparse.ArgumentParser:
    # allow_abbrev False: `--max_train 5` must not silently set max_train_samples.
    parser = argparse.ArgumentParser(description=description, allow_abbrev=False,
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--preset", default=None,
                        help=f"Preset name ({', '.join(list_presets(preset_dir))}) or path to a JSON file; "
                             "several, comma-separated, apply left to right.")
    for f in dataclasses.fields(cls):
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        help_text = f.metadata.get("help", "")
        if "choices" in f.metadata:
            help_text += f" Choices: {', '.join(map(str, f.metadata['choices']))}."
        # Values stay strings here; `parse_config` converts them with the field's type so
        # that presets and the command line share one validation path.
        is_flag = _base_type(_field_types(cls)[f.name])[0] is bool  # `--resume` alone means true
        parser.add_argument(f"--{f.name}", default=argparse.SUPPRESS, metavar=f.name.upper(),
                            **({"nargs": "?", "const": "true"} if is_flag else {}),
                            help=f"{help_text} (default: {default})" + (
                                f" Must be {describe_domain(field_bounds(cls, f.name))}."
                                if field_bounds(cls, f.name) else ""))
    return parser


def parse_config(cls: type, argv: Sequence[str] | None, preset_dir: Path, description: str | None = None,
                 between: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
    """Parse `[--preset NAME] [--key value ...]` into (config, provenance for config.json).

    `between` holds values that apply after the presets and before the command-line keys
    (a sweep's fixed values)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(cls, preset_dir, description)
    args, unknown = parser.parse_known_args(argv)
    flags = [a.split("=", 1)[0].lstrip("-") for a in unknown if a.startswith("--")]
    if unknown:
        if flags:
            raise _unknown_key_error(cls, flags, "the command line")
        raise ConfigError(f"unexpected arguments {unknown}; use --key value pairs")
    overrides = vars(args)
    preset = overrides.pop("preset", None)
    values = {}
    # Presets compose left to right ("mbert,zero_shot": a model row and a setup row).
    for name in (preset.split(",") if preset else []):
        one = load_preset(name.strip(), preset_dir)
        build_config(cls, one, where=f"preset {name.strip()!r}")  # report preset typos as such
        values.update(one)
    values.update(between or {})
    hints = _field_types(cls)
    for key, text in overrides.items():
        values[key] = parse_value(key, text, hints[key])
    cfg = build_config(cls, values)
    if cfg.run_name is None:
        stems = "+".join(Path(name.strip()).stem for name in preset.split(",")) if preset else "default"
        # A model given on the command line names the run, so that its runs are not filed under
        # the name of the preset's model (`distilbert_seed42` for a run of another encoder).
        model = model_stem(overrides["model_name_or_path"]) if "model_name_or_path" in overrides else None
        cfg.run_name = f"{model + '_' if model else ''}{stems}_seed{cfg.seed}"
    return cfg, {"preset": preset, "argv": argv}


GENERIC_FOLDERS = {"model", "models", "best", "last", "merged", "checkpoint", "checkpoints", "final"}


def model_stem(name_or_path: str) -> str:
    """A short, path-safe name of a model: a hub id's name, or a local folder's (its parent's
    when the folder has a generic name such as `model` or `best`)."""
    parts = [part for part in Path(str(name_or_path).rstrip("/")).parts if part not in ("/", ".", "..")]
    named = [part for part in parts if part.lower() not in GENERIC_FOLDERS]
    stem = named[-1] if named else (parts[-1] if parts else "model")
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in stem)


def check_config_value(cls: type, key: str, value: Any, where: str) -> Any:
    """One value for key `key` of `cls`, typed and checked (strings are parsed, as on the
    command line, so YAML's `1e-5`, a string, is read as the float it means)."""
    if key not in config_keys(cls):
        raise _unknown_key_error(cls, [key], where)
    f = next(f for f in dataclasses.fields(cls) if f.name == key)
    annotation = _field_types(cls)[key]
    try:
        if isinstance(value, str) and _base_type(annotation)[0] is not str:
            value = parse_value(key, value, annotation)
        return _check_value(key, value, annotation, f.metadata.get("choices"), field_bounds(cls, key))
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def config_to_dict(cfg: Any) -> dict[str, Any]:
    return dataclasses.asdict(cfg)
