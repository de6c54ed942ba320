"""Live logs of a run for TensorBoard, MLflow and Weights & Biases (the `report_to` key).

The run directory stays the record (history.jsonl, metrics.json); the trackers mirror it
so that a run's curves can be watched while it trains and runs compared side by side:
the training loss and learning rate every `logging_steps` optimizer steps, each epoch's
validation scores, the final scores, the resolved config as hyperparameters and the
plots as images. The x-axis of every curve is the optimizer step.

- `tensorboard`: event files in `<run dir>/tensorboard/`, so `tensorboard --logdir runs`
  shows every run with no server; the config and final scores also go to the HPARAMS view,
  which compares the trials of a sweep.
- `mlflow`: the server named by `MLFLOW_TRACKING_URI` when it is set (a team's), else a
  local store inside the output directory (`<output_dir>/mlflow.db`, artifacts in
  `<output_dir>/mlartifacts/`; `mlflow ui --backend-store-uri sqlite:///runs/mlflow.db`).
  One experiment per phase; a sweep's trials are child runs of the study's parent run.
- `wandb`: `wandb.init` with its files in `<run dir>/wandb/`; `WANDB_MODE=offline` keeps
  it on the machine (`wandb sync` uploads later).

A resumed run continues the tracker runs it started (their ids are kept in
`<run dir>/trackers.json`). A tracker named but not installed is an error before the run
starts, naming the package to install.
"""
from __future__ import annotations

import atexit
import importlib.util
import json
import math
import netrc
import os
import time
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

from common.distributed import is_main_process
from common.errors import ConfigError

TRACKERS = ("none", "tensorboard", "mlflow", "wandb")
PACKAGES = {"tensorboard": ("tensorboard", "tensorboard"), "mlflow": ("mlflow", "mlflow-skinny"),
            "wandb": ("wandb", "wandb")}  # tracker -> (module, package to install)
PARAM_CHARS = 500  # MLflow's limit on a parameter value in older servers; longer values are cut


def chosen_trackers(report_to: Sequence[str]) -> list[str]:
    """The trackers of `report_to`; 'none' alone means none, and mixed with others is an error."""
    names = list(dict.fromkeys(report_to))
    if "none" in names and len(names) > 1:
        raise ConfigError(f"report_to: 'none' cannot be combined with {', '.join(n for n in names if n != 'none')}")
    return [name for name in names if name != "none"]


def check_trackers(report_to: Sequence[str]) -> None:
    """Every chosen tracker's package is installed, and W&B has credentials (else an error
    naming what is missing), before the run directory exists."""
    for name in chosen_trackers(report_to):
        module, package = PACKAGES[name]
        if importlib.util.find_spec(module) is None:
            raise ConfigError(f"report_to {name}: the {module!r} package is not installed; run "
                              f"`pip install {package}`, or leave {name} out of --report_to")
        if name == "wandb" and not wandb_can_log(os.environ, Path.home() / ".netrc"):
            raise ConfigError("report_to wandb: no W&B credentials (no WANDB_API_KEY, no api.wandb.ai entry in "
                              "~/.netrc); run `wandb login`, set WANDB_MODE=offline to log locally, or leave wandb "
                              "out of --report_to")


def wandb_can_log(environ: Mapping[str, str], netrc_path: Path) -> bool:
    """Whether W&B can start a run without asking for a login: an API key, an offline or
    disabled mode, or the login `wandb login` stores in ~/.netrc."""
    if environ.get("WANDB_API_KEY") or environ.get("WANDB_MODE", "").lower() in ("offline", "disabled", "dryrun"):
        return True
    try:
        return netrc.netrc(str(netrc_path)).authenticators("api.wandb.ai") is not None
    except (OSError, netrc.NetrcParseError):
        return False


def flat_params(config: dict) -> dict[str, Any]:
    """The config as tracker hyperparameters: numbers, booleans and strings as they are, the
    rest (lists, None) as text."""
    return {key: value if isinstance(value, (int, float, str, bool)) else json.dumps(value)
            for key, value in config.items()}


def epoch_metrics(row: dict) -> dict:
    """A history row under the trackers' names: `val/<score>`, `train/epoch_loss` and
    `epoch/<figure>` (time, throughput, the epoch's number)."""
    named = {}
    for key, value in row.items():
        if key.startswith("val_"):
            named[f"val/{key.removeprefix('val_')}"] = value
        elif key == "train_loss":
            named["train/epoch_loss"] = value
        else:
            named[f"epoch/{key}"] = value
    return named


def finite(metrics: dict) -> dict[str, float]:
    """The metrics a tracker can plot: finite numbers only (no booleans, lists or NaN)."""
    return {k: float(v) for k, v in metrics.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)}


# TensorBoard's SCALARS tab sorts tag groups by name (epoch/ before train/ and val/); its
# CUSTOM SCALARS tab follows this layout: what a run is judged by first, bookkeeping last.
SCALAR_LAYOUT = {
    "1. loss and scores": {
        "loss": ["Multiline", ["train/loss", "train/epoch_loss", "val/loss"]],
        "validation scores": ["Multiline", [r"val/(accuracy|f1_macro|r2|exact_match|token_f1)"]],
        "learning rate": ["Multiline", ["train/learning_rate"]],
    },
    "2. bookkeeping": {
        "time and throughput": ["Multiline", [r"epoch/(epoch_seconds|samples_per_second|tokens_per_second)"]],
        "tokens": ["Multiline", [r"epoch/(tokens|padded_tokens)"]],
    },
}


class TensorBoardTracker:
    name = "tensorboard"

    def __init__(self, run_dir: Path, params: dict, state: dict):
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=str(Path(run_dir) / "tensorboard"))
        self.params = params
        self.writer.add_text("config", "```\n" + json.dumps(params, indent=1) + "\n```")
        self.writer.add_custom_scalars(SCALAR_LAYOUT)  # the CUSTOM SCALARS tab: loss and scores first

    def log_metrics(self, metrics: dict, step: int) -> None:
        for key, value in finite(metrics).items():
            self.writer.add_scalar(key, value, step)

    def log_image(self, name: str, path: Path, step: int) -> None:
        import numpy as np
        from PIL import Image

        self.writer.add_image(name, np.asarray(Image.open(path).convert("RGB")), step, dataformats="HWC")

    def finish(self, final: dict, status: str) -> None:
        if final:  # the HPARAMS view: this run's config beside its final scores
            self.writer.add_hparams(flat_params(self.params), {f"hparam/{k}": v for k, v in finite(final).items()},
                                    run_name=".")
        self.writer.close()

    def state(self) -> dict:
        return {}


class MlflowTracker:
    name = "mlflow"

    def __init__(self, run_dir: Path, params: dict, state: dict, *, experiment: str, run_name: str,
                 output_dir: Path, parent_tags: Optional[dict] = None):
        from mlflow.entities import Param
        from mlflow.tracking import MlflowClient

        uri = os.environ.get("MLFLOW_TRACKING_URI") or local_store(output_dir)
        self.client = MlflowClient(uri)
        if state.get("run_id"):  # a resumed run continues its MLflow run
            self.run_id = state["run_id"]
            self.client.update_run(self.run_id, status="RUNNING")
            return
        experiment_id = ensure_experiment(self.client, experiment, None if os.environ.get("MLFLOW_TRACKING_URI")
                                          else local_artifacts(output_dir))
        tags = {"run_dir": str(run_dir)}
        if parent_tags:
            tags["mlflow.parentRunId"] = find_or_create_parent(self.client, experiment_id, parent_tags)
        self.run_id = self.client.create_run(experiment_id, run_name=run_name, tags=tags).info.run_id
        self.client.log_batch(self.run_id, params=[Param(k, str(v)[:PARAM_CHARS])
                                                   for k, v in flat_params(params).items()])

    def log_metrics(self, metrics: dict, step: int) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        values = [Metric(key, value, now, step) for key, value in finite(metrics).items()]
        if values:
            self.client.log_batch(self.run_id, metrics=values)

    def log_image(self, name: str, path: Path, step: int) -> None:
        self.client.log_artifact(self.run_id, str(path), artifact_path="plots")

    def finish(self, final: dict, status: str) -> None:
        self.log_metrics(final, 0)  # MLflow shows a metric's last value in its run table
        self.client.set_terminated(self.run_id, status=status)

    def state(self) -> dict:
        return {"run_id": self.run_id}


def local_store(output_dir: Path) -> str:
    return f"sqlite:///{(Path(output_dir) / 'mlflow.db').resolve()}"


def local_artifacts(output_dir: Path) -> str:
    return (Path(output_dir) / "mlartifacts").resolve().as_uri()


def ensure_experiment(client, name: str, artifact_location: Optional[str]) -> str:
    """The experiment's id, made on first use (a second worker that races to make it reads it)."""
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    try:
        return client.create_experiment(name, artifact_location=artifact_location)
    except Exception:  # another process made it between the two calls
        return client.get_experiment_by_name(name).experiment_id


def find_or_create_parent(client, experiment_id: str, tags: dict) -> str:
    """The parent run of a sweep (tagged with the study's name); made by the first trial that
    finds none (`open_sweep_parent` makes it before the workers start)."""
    query = " and ".join(f"tags.{k} = '{v}'" for k, v in tags.items())
    found = client.search_runs([experiment_id], filter_string=query, max_results=1)
    if found:
        return found[0].info.run_id
    return client.create_run(experiment_id, run_name=f"sweep {tags['sweep']}", tags=tags).info.run_id


class WandbTracker:
    name = "wandb"

    def __init__(self, run_dir: Path, params: dict, state: dict, *, experiment: str, run_name: str,
                 group: Optional[str] = None):
        import wandb

        (Path(run_dir) / "wandb").mkdir(parents=True, exist_ok=True)
        self.run = wandb.init(project=experiment, name=run_name, dir=str(run_dir), config=params, group=group,
                              id=state.get("run_id"), resume="allow" if state.get("run_id") else None)

    def log_metrics(self, metrics: dict, step: int) -> None:
        self.run.log(finite(metrics), step=step)

    def log_image(self, name: str, path: Path, step: int) -> None:
        import wandb

        self.run.log({name: wandb.Image(str(path))}, step=step)

    def finish(self, final: dict, status: str) -> None:
        import wandb

        self.run.summary.update(finite(final))
        self.run.finish(exit_code=0 if status == "FINISHED" else 1)
        wandb.teardown()  # stops W&B's background service, which writes the run's records on its own time

    def state(self) -> dict:
        return {"run_id": self.run.id}


class Trackers:
    """The run's trackers, fed together; a no-op with `report_to none`. Opened by
    `common.run_lifecycle.open_run` and closed by `finish_run`; a run that dies is closed by
    `close_open_trackers` (a sweep's trial), or at the process's exit, as FAILED."""

    def __init__(self, trackers: Sequence[Any], run_dir: Optional[Path] = None, logging_steps: int = 50):
        self.trackers, self.run_dir, self.logging_steps = list(trackers), run_dir, logging_steps
        self.closed = False
        if self.trackers:
            # plain json, not common.records: common.config imports this module
            (Path(run_dir) / "trackers.json").write_text(json.dumps({t.name: t.state() for t in self.trackers}))
            OPEN.append(self)

    def log_metrics(self, metrics: dict, step: int) -> None:
        for tracker in self.trackers:
            tracker.log_metrics(metrics, step)

    def log_images(self, paths: Sequence[Path], step: int) -> None:
        for path in paths:
            if Path(path).exists():
                for tracker in self.trackers:
                    tracker.log_image(f"plots/{Path(path).stem}", Path(path), step)

    def close(self, final: dict, status: str = "FINISHED") -> None:
        if self.closed:
            return
        self.closed = True
        if self in OPEN:
            OPEN.remove(self)
        for tracker in self.trackers:
            tracker.finish(final, status)


NO_TRACKERS = Trackers([])
OPEN: list[Trackers] = []  # opened and not yet closed, in this process


def close_open_trackers(status: str = "FAILED") -> None:
    """Close the trackers of runs that ended without `finish_run` (an error, a pruned trial):
    KILLED or FAILED in MLflow and W&B, never left running."""
    for trackers in list(OPEN):
        trackers.close({}, status)


atexit.register(close_open_trackers, "FAILED")


def open_trackers(cfg, run_dir: Path, phase: str, provenance: Optional[dict] = None) -> Trackers:
    """The trackers of `cfg.report_to` for the run in `run_dir` (continued on --resume); none
    on the ranks other than 0 under torch.distributed."""
    names = chosen_trackers(cfg.report_to)
    if not names or not is_main_process():
        return NO_TRACKERS
    params = {key: value for key, value in vars(cfg).items()}
    stored_path = Path(run_dir) / "trackers.json"
    stored = json.loads(stored_path.read_text()) if cfg.resume and stored_path.exists() else {}
    sweep = (provenance or {}).get("sweep")
    trackers = []
    for name in names:
        state = stored.get(name, {})
        if name == "tensorboard":
            trackers.append(TensorBoardTracker(run_dir, params, state))
        elif name == "mlflow":
            trackers.append(MlflowTracker(run_dir, params, state, experiment=phase, run_name=Path(run_dir).name,
                                          output_dir=Path(cfg.output_dir),
                                          parent_tags={"sweep": sweep, "role": "study"} if sweep else None))
        else:
            trackers.append(WandbTracker(run_dir, params, state, experiment=phase, run_name=Path(run_dir).name,
                                         group=sweep))
    return Trackers(trackers, run_dir, cfg.logging_steps)


def open_sweep_parent(report_to: Sequence[str], phase: str, output_dir: Path, sweep: str) -> None:
    """The MLflow parent run of a sweep, made once before its workers start."""
    if "mlflow" not in chosen_trackers(report_to):
        return
    from mlflow.tracking import MlflowClient

    uri = os.environ.get("MLFLOW_TRACKING_URI") or local_store(output_dir)
    client = MlflowClient(uri)
    experiment_id = ensure_experiment(client, phase, None if os.environ.get("MLFLOW_TRACKING_URI")
                                      else local_artifacts(output_dir))
    find_or_create_parent(client, experiment_id, {"sweep": sweep, "role": "study"})
