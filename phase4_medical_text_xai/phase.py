"""What phase 4 declares for `common.reproduce`, `common.report` and its model cards (see common/phases.py)."""
from __future__ import annotations

from common.hub import HubRef, model_ref
from common.phases import Phase, Runner, StudyData
from phase4_medical_text_xai.config import MEDICAL_DATASET, PHASE as NAME, PRESET_DIR, Phase4Config
from phase4_medical_text_xai.data import HUB_ID, data_refs, load_splits
from phase4_medical_text_xai.reproduce import quick_steps, steps
from phase4_medical_text_xai.tables import BLOCKS, CLAIMS, SUMMARY, TABLES
from phase4_medical_text_xai.train import main


def hub_refs(cfg: Phase4Config) -> list[HubRef]:
    return data_refs(cfg) + model_ref(cfg.model_name_or_path, "")


ABSTRACTS = StudyData(MEDICAL_DATASET, "Medical Abstracts (Schopf et al. 2022)", HUB_ID, "cc-by-sa-3.0")
PHASE = Phase(Runner(NAME, Phase4Config, PRESET_DIR, main, hub_refs, load_splits), steps, quick_steps, tables=TABLES,
              blocks=BLOCKS, study_data=ABSTRACTS, summary=SUMMARY, claims=CLAIMS)
