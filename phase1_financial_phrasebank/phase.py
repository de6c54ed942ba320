"""What phase 1 declares for `common.reproduce`, `common.report` and its model cards (see common/phases.py)."""
from __future__ import annotations

from common.hub import HubRef
from common.phases import Phase, Runner, StudyData
from phase1_financial_phrasebank.config import PHASE as NAME, PRESET_DIR, Phase1Config
from phase1_financial_phrasebank.data import HUB_REPO, data_refs, load_splits
from common.scratch import encoder_refs
from phase1_financial_phrasebank.reproduce import quick_steps, steps
from phase1_financial_phrasebank.tables import CLAIMS, STUDY_DATA, SUMMARY, TABLES
from phase1_financial_phrasebank.train import main


def hub_refs(cfg: Phase1Config) -> list[HubRef]:
    return data_refs(cfg) + encoder_refs(cfg)


PHRASEBANK = StudyData(STUDY_DATA, "Financial PhraseBank (Malo et al. 2014)", HUB_REPO, "cc-by-nc-sa-3.0")
PHASE = Phase(Runner(NAME, Phase1Config, PRESET_DIR, main, hub_refs, load_splits), steps, quick_steps, tables=TABLES,
              study_data=PHRASEBANK, summary=SUMMARY, claims=CLAIMS)
