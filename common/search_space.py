"""Search spaces as data: a JSON or YAML file that a sweep (common/sweep.py) runs.

    study_name: xlmr_grid          # optional; default: the file's name
    sampler: grid                  # grid | tpe | random, or {type: tpe, n_startup_trials: 5, ...}
    n_trials: 12                   # tpe/random: the trial budget (a grid runs each point once)
    seed: 0                        # sampler seed
    metric: val_f1_macro           # val_f1_macro | val_accuracy (maximized) | val_loss (minimized)
    pruner: {type: median, n_warmup_steps: 1}   # median | percentile | hyperband | none
    keep_checkpoints: false        # delete each finished trial's checkpoints (the best is re-run)
    fixed: {epochs: 2}             # config values of every trial
    params:
      learning_rate: [1.0e-5, 2.0e-5, 3.0e-5]      # a list: grid points / categorical choices
      batch_size: [16, 32]
      warmup_ratio: {low: 0.0, high: 0.2}          # a range: float, or int with type: int
      weight_decay: {low: 1.0e-4, high: 0.1, log: true}

A grid is the product of its lists. Where some combinations are invalid (Adafactor's
relative step takes no learning rate), list the grid's points instead of `params`:

    points:
      - {optimizer: adamw, learning_rate: 2.0e-5}
      - {optimizer: adafactor_relative, learning_rate: null, lr_scheduler: constant, warmup_ratio: 0.0}

(every point names the same keys).

Every key is checked when the file is read: unknown keys, parameters that are not config
keys of the phase, values of the wrong type or outside a key's choices, empty lists,
inverted or non-positive log ranges, and ranges in a grid are errors that name the file.
"""
from __future__ import annotations

import difflib
import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import yaml

from common.config import check_config_value
from common.errors import ConfigError
from common.paths import check_relative_name

SPACE_KEYS = ("study_name", "sampler", "n_trials", "seed", "metric", "pruner", "keep_checkpoints", "fixed", "params",
              "points")
SAMPLERS = ("grid", "tpe", "random")
PRUNERS = ("median", "percentile", "hyperband", "none")
METRICS = {"val_f1_macro": "maximize", "val_accuracy": "maximize", "val_loss": "minimize"}
RANGE_KEYS = ("low", "high", "log", "step", "type")
RUN_KEYS = ("run_name", "output_dir", "resume", "overwrite", "evaluate_test", "device")  # the sweep sets these


@dataclass
class Param:
    name: str
    values: Optional[list] = None  # grid points or categorical choices
    low: Optional[float] = None
    high: Optional[float] = None
    log: bool = False
    step: Optional[float] = None
    integer: bool = False

    def suggest(self, trial) -> Any:
        if self.values is not None:
            return trial.suggest_categorical(self.name, self.values)
        if self.integer:
            return trial.suggest_int(self.name, int(self.low), int(self.high), step=int(self.step or 1), log=self.log)
        return trial.suggest_float(self.name, self.low, self.high, step=self.step, log=self.log)


@dataclass
class SearchSpace:
    study_name: str
    sampler: dict
    n_trials: Optional[int]
    seed: int
    metric: str
    pruner: dict
    keep_checkpoints: bool
    fixed: dict
    params: list[Param] = field(default_factory=list)
    points: Optional[list[dict]] = None  # an explicit grid, instead of the product of the lists
    source: str = ""

    @property
    def direction(self) -> str:
        return METRICS[self.metric]

    @property
    def is_grid(self) -> bool:
        return self.sampler["type"] == "grid"

    def grid_points(self) -> list[dict]:
        if self.points is not None:
            return [dict(point) for point in self.points]
        names = [p.name for p in self.params]
        return [dict(zip(names, combo)) for combo in itertools.product(*(p.values for p in self.params))]

    @property
    def budget(self) -> int:
        return len(self.grid_points()) if self.is_grid else self.n_trials

    def describe(self) -> dict:
        """What identifies the study: a study resumed with another space is an error."""
        return {"sampler": self.sampler, "n_trials": self.n_trials, "seed": self.seed, "metric": self.metric,
                "fixed": self.fixed, "params": [p.__dict__ for p in self.params], "points": self.points}

    def build_sampler(self):
        import optuna

        options = {k: v for k, v in self.sampler.items() if k != "type"}
        # A grid's points are enqueued trials; its sampler is consulted by no trial that trains.
        cls = {"grid": optuna.samplers.RandomSampler, "random": optuna.samplers.RandomSampler,
               "tpe": optuna.samplers.TPESampler}[self.sampler["type"]]
        try:
            return cls(seed=self.seed, **options)
        except TypeError as exc:
            raise ConfigError(f"{self.source}: sampler options {options}: {exc}") from None

    def build_pruner(self):
        import optuna

        options = {k: v for k, v in self.pruner.items() if k != "type"}
        cls = {"median": optuna.pruners.MedianPruner, "percentile": optuna.pruners.PercentilePruner,
               "hyperband": optuna.pruners.HyperbandPruner, "none": optuna.pruners.NopPruner}[self.pruner["type"]]
        try:
            return cls(**options)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{self.source}: pruner options {options}: {exc}") from None


def _fail(path: Path, message: str) -> ConfigError:
    return ConfigError(f"search space {path}: {message}")


def _named_options(value: Any, key: str, choices: tuple, path: Path) -> dict:
    options = {"type": value} if isinstance(value, str) else dict(value) if isinstance(value, dict) else None
    if options is None or options.get("type") not in choices:
        raise _fail(path, f"{key} must be one of {', '.join(choices)} (or a mapping with that `type`), got {value!r}")
    return options


def _read_param(name: str, spec: Any, config_cls: type, path: Path) -> Param:
    where = f"search space {path}, parameter {name!r}"
    if isinstance(spec, list):
        if not spec:
            raise _fail(path, f"parameter {name!r} has an empty list of values")
        values = [check_config_value(config_cls, name, v, where) for v in spec]
        if len({json.dumps(v) for v in values}) < len(values):
            raise _fail(path, f"parameter {name!r} lists a value twice")
        return Param(name, values=values)
    if not isinstance(spec, dict):
        raise _fail(path, f"parameter {name!r} must be a list of values or a range {{low, high}}, got {spec!r}")
    unknown = [k for k in spec if k not in RANGE_KEYS]
    if unknown or "low" not in spec or "high" not in spec:
        raise _fail(path, f"parameter {name!r}: a range takes low and high, optionally log, step and "
                    f"type int|float (got {', '.join(map(str, spec))})")
    integer = spec.get("type", "float") == "int"
    if spec.get("type", "float") not in ("int", "float"):
        raise _fail(path, f"parameter {name!r}: type must be int or float")
    low, high = (check_config_value(config_cls, name, spec[k], where) for k in ("low", "high"))
    if not low < high:
        raise _fail(path, f"parameter {name!r}: low ({low}) must be below high ({high})")
    if spec.get("log") and low <= 0:
        raise _fail(path, f"parameter {name!r}: a log range needs low > 0")
    step = spec.get("step")
    if step is not None and (isinstance(step, bool) or not isinstance(step, (int, float)) or step <= 0):
        raise _fail(path, f"parameter {name!r}: step must be a positive number, got {step!r}")
    if step is not None and spec.get("log"):
        raise _fail(path, f"parameter {name!r}: a log range takes no step")
    return Param(name, low=low, high=high, log=bool(spec.get("log", False)), step=spec.get("step"), integer=integer)


def _read_points(points: Any, raw: dict, config_cls: type, path: Path) -> list[dict]:
    if "params" in raw:
        raise _fail(path, "give either `params` (a product grid) or `points` (an explicit grid), not both")
    if raw.get("sampler", "grid") != "grid":
        raise _fail(path, "`points` is an explicit grid: it needs sampler grid")
    if not isinstance(points, list) or not points or not all(isinstance(p, dict) and p for p in points):
        raise _fail(path, "`points` must be a non-empty list of mappings of config keys to values")
    names = list(points[0])
    for number, point in enumerate(points, start=1):
        if sorted(point) != sorted(names):
            raise _fail(path, f"point {number} names {', '.join(point)}; every point must name {', '.join(names)}")
    checked = [{k: check_config_value(config_cls, k, v, f"search space {path}, point {n}") for k, v in point.items()}
               for n, point in enumerate(points, start=1)]
    if len({json.dumps(p, sort_keys=True) for p in checked}) < len(checked):
        raise _fail(path, "a point is listed twice")
    return checked


def check_study_name(name: str) -> str:
    """A study's name names its folder, `sweep_<name>`, under <output_dir>/<phase>/: one plain name."""
    return check_relative_name(name, "study_name", "a study lives in <output_dir>/<phase>/sweep_<study_name>",
                               nested=False)


def _study_name(raw: dict, path: Path) -> str:
    name = str(raw.get("study_name") or path.stem)
    try:
        return check_study_name(name)
    except ConfigError as exc:
        raise _fail(path, str(exc)) from None


def _whole_number(raw: dict, key: str, default: Optional[int], path: Path) -> Optional[int]:
    value = raw.get(key, default)
    if value is None or (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
        return value
    raise _fail(path, f"{key} must be a whole number >= 0, got {value!r}")


def load_search_space(path: Path, config_cls: type) -> SearchSpace:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"search space file {path} does not exist")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))  # YAML is a superset of JSON
    except yaml.YAMLError as exc:
        raise _fail(path, f"not valid YAML/JSON ({exc})") from None
    if not isinstance(raw, dict):
        raise _fail(path, "expected a mapping of keys (study_name, sampler, params, ...)")
    unknown = [k for k in raw if k not in SPACE_KEYS]
    if unknown:
        hints = [f"{k!r}" + (f" (did you mean {m[0]!r}?)" if (m := difflib.get_close_matches(k, SPACE_KEYS, 1)) else "")
                 for k in unknown]
        raise _fail(path, f"unknown key(s) {', '.join(hints)}; valid keys: {', '.join(SPACE_KEYS)}")
    points = raw.get("points")
    if points is not None:
        points = _read_points(points, raw, config_cls, path)
        params = {name: list(dict.fromkeys(json.dumps(p[name]) for p in points)) for name in points[0]}
        params = {name: [json.loads(v) for v in values] for name, values in params.items()}
    else:
        params = raw.get("params")
    if not isinstance(params, dict) or not params:
        raise _fail(path, "`params` must map at least one config key to its values or range")
    sampler = _named_options(raw.get("sampler", "grid"), "sampler", SAMPLERS, path)
    pruner = _named_options(raw.get("pruner", {"type": "median", "n_warmup_steps": 1}), "pruner", PRUNERS, path)
    metric = raw.get("metric", "val_f1_macro")
    if metric not in METRICS:
        raise _fail(path, f"metric must be one of {', '.join(METRICS)}, got {metric!r}")
    fixed = raw.get("fixed") or {}
    if not isinstance(fixed, dict):
        raise _fail(path, "`fixed` must map config keys to values")
    for key in (*fixed, *params):
        if key in RUN_KEYS:
            raise _fail(path, f"{key!r} is set by the sweep for each trial; it cannot be fixed or searched")
    both = sorted(set(fixed) & set(params))
    if both:
        raise _fail(path, f"{', '.join(both)} both fixed and searched")
    fixed = {k: check_config_value(config_cls, k, v, f"search space {path}, fixed") for k, v in fixed.items()}
    space = SearchSpace(study_name=_study_name(raw, path), sampler=sampler,
                        n_trials=_whole_number(raw, "n_trials", None, path),
                        seed=_whole_number(raw, "seed", 0, path), metric=metric, pruner=pruner,
                        keep_checkpoints=bool(raw.get("keep_checkpoints", False)), fixed=fixed,
                        params=[_read_param(name, spec, config_cls, path) for name, spec in params.items()],
                        points=points, source=str(path))
    if space.is_grid:
        ranges = [p.name for p in space.params if p.values is None]
        if ranges:
            raise _fail(path,
                        f"a grid takes lists of values; {', '.join(ranges)} {'is a' if len(ranges) == 1 else 'are'}"
                        " range(s): list the points, or use sampler tpe or random")
        if space.n_trials is not None:
            raise _fail(path, "a grid runs every point once; drop n_trials")
    elif not isinstance(space.n_trials, int) or space.n_trials < 1:
        raise _fail(path, f"sampler {sampler['type']} needs n_trials, a positive integer (the trial budget)")
    space.build_sampler(), space.build_pruner()  # bad sampler or pruner options fail now, not in a worker
    return space
