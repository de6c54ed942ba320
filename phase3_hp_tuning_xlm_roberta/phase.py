"""What phase 3 declares for `common.reproduce`, `common.report` and its model cards (see common/phases.py)."""
from __future__ import annotations

from common.phases import Phase, Runner
from phase2_multilingual_sentiment.data import load_splits
from phase2_multilingual_sentiment.phase import TWEETS, hub_refs  # phase 2's task and data
from phase3_hp_tuning_xlm_roberta.config import PHASE as NAME, PRESET_DIR, Phase3Config
from phase3_hp_tuning_xlm_roberta.reproduce import quick_steps, steps
from phase3_hp_tuning_xlm_roberta.tables import BLOCKS, CLAIMS, SUMMARY, TABLES
from phase3_hp_tuning_xlm_roberta.train import main

PHASE = Phase(Runner(NAME, Phase3Config, PRESET_DIR, main, hub_refs, load_splits), steps, quick_steps, tables=TABLES,
              blocks=BLOCKS, study_data=TWEETS, summary=SUMMARY, claims=CLAIMS)
