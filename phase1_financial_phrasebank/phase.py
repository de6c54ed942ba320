"""What phase 1 declares for `common.reproduce` and `common.report` (see common/phases.py)."""
from __future__ import annotations

from common.hub import HubRef
from common.phases import Phase, Runner
from phase1_financial_phrasebank.config import PHASE as NAME, PRESET_DIR, Phase1Config
from phase1_financial_phrasebank.data import data_refs
from phase1_financial_phrasebank.models import model_refs
from phase1_financial_phrasebank.reproduce import quick_steps, steps
from phase1_financial_phrasebank.tables import TABLES
from phase1_financial_phrasebank.train import main


def hub_refs(cfg: Phase1Config) -> list[HubRef]:
    return data_refs(cfg) + model_refs(cfg)


PHASE = Phase(Runner(NAME, Phase1Config, PRESET_DIR, main, hub_refs), steps, quick_steps, tables=TABLES)
