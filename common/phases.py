"""What each phase declares for the runner and the report, and how they find it.

`common` imports no phase. Each phase package states, in its `phase.py`, one `Phase`:
how to train one of its runs (`Runner`: config class, presets, `main`, and what a config
reads from the hub), its reproduction steps (`steps`, `quick_steps`) and what it puts in
experiments.md (tables, figures, other blocks). `discover_phases` finds the phase
packages, the folders `phase<N>_<name>/` beside `common/` that hold a `phase.py`, and
reads their `PHASE`; `common.reproduce`, `common.report` and the model cards
(common/model_card.py) work from that list alone.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from common import REPO_ROOT
from common.config import parse_config
from common.errors import ConfigError
from common.hub import HubRef



@dataclass(frozen=True)
class Runner:
    """How to train one run of a phase."""

    phase: str  # the package name, e.g. phase1_financial_phrasebank; also the runs subfolder
    config_cls: type
    preset_dir: Path
    main: Callable  # main(cfg, provenance) -> run directory
    hub_refs: Callable[[Any], list[HubRef]]  # what a config of the phase reads from the hub
    load_splits: Optional[Callable] = None  # load_splits(cfg) -> text Splits: the test split a baseline scores

    def parse(self, argv: Sequence[str]):
        """The config and provenance of `argv` (presets and `--key value` pairs)."""
        return parse_config(self.config_cls, list(argv), self.preset_dir)

    def refs(self, argv: Sequence[str], used_by: str) -> list[HubRef]:
        cfg, _ = self.parse(argv)
        return [replace(ref, used_by=used_by) for ref in self.hub_refs(cfg)]


@dataclass(frozen=True)
class StudyData:
    """The data set a phase's study uses, as a model card names it."""

    name: str  # the config's `dataset` value for it
    title: str  # e.g. "Financial PhraseBank (Malo et al. 2014)"
    hub_id: Optional[str] = None  # the hub copy, for the card's `datasets`
    license: Optional[str] = None  # a Hugging Face licence id, or "other" with license_name and license_link
    license_name: Optional[str] = None
    license_link: Optional[str] = None


@dataclass(frozen=True)
class Phase:
    """Everything the runner, the report and the model cards need of one phase."""

    runner: Runner
    steps: Callable  # steps(ctx, runner) -> list of common.reproduce.Step: the real runs
    quick_steps: Callable  # quick_steps(ctx, runner): the same pipelines on tiny models and synthetic data
    tables: Sequence = ()  # common.report.TableSpec
    figures: Sequence = ()  # common.report.FigureSpec
    blocks: Sequence = ()  # common.report.BlockSpec
    summary: Sequence = ()  # common.summary.SummaryRow: its rows of experiments.md's summary
    claims: Sequence = ()  # common.claims.ClaimVerdict: its verdicts on the original study's findings
    study_data: Optional[StudyData] = None  # what its model cards say of the study's data set
    pipeline_tag: Optional[str] = "text-classification"  # the transformers pipeline that serves its models

    @property
    def name(self) -> str:
        return self.runner.phase


@lru_cache(maxsize=1)
def discover_phases() -> dict[str, Phase]:
    """Phase number ("1", "2", ...) -> its declaration, in order."""
    found = {}
    for folder in sorted(REPO_ROOT.glob("phase[0-9]_*")):
        if not (folder / "phase.py").is_file():
            continue
        found[folder.name.split("_", 1)[0].removeprefix("phase")] = load_phase(folder.name)
    return found


def load_phase(name: str) -> Phase:
    """The declaration of the phase package `name`, importing only its own phase.py (a sweep's
    worker process needs its runner, not every phase)."""
    try:
        declared = getattr(importlib.import_module(f"{name}.phase"), "PHASE", None)
    except ModuleNotFoundError as exc:
        raise ConfigError(f"no phase package {name!r} with a phase.py ({exc})") from None
    if not isinstance(declared, Phase) or declared.name != name:
        raise ConfigError(f"{name}/phase.py must define PHASE = Phase(...) for {name}")
    return declared


def resolve_ref(ref: str) -> Any:
    """The object a "package.module:name" reference names (e.g. a test's own `main` for a sweep)."""
    module, _, name = ref.partition(":")
    if not module or not name:
        raise ConfigError(f"{ref!r} is not a 'package.module:name' reference")
    try:
        return getattr(importlib.import_module(module), name)
    except (ModuleNotFoundError, AttributeError) as exc:
        raise ConfigError(f"cannot resolve {ref!r}: {exc}") from None


def declared_phase(name: str) -> Optional[Phase]:
    """The declaration of the phase package `name`, if there is one."""
    return next((phase for phase in discover_phases().values() if phase.name == name), None)


def choose_phases(text: str | None, key: str = "--phases") -> list[Phase]:
    """`--phases 1,4` (numbers or package names); empty: every phase. `key` names the option in errors."""
    phases = discover_phases()
    if not text:
        return list(phases.values())
    by_name = {phase.name: phase for phase in phases.values()}
    chosen = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [p for p in chosen if p not in phases and p not in by_name]
    if unknown:
        raise ConfigError(f"{key}: unknown phase(s) {', '.join(unknown)}; choose from "
                          + ", ".join(f"{number} ({phase.name})" for number, phase in phases.items()))
    return [phases.get(p) or by_name[p] for p in chosen]
