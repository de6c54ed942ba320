"""What phase 5 declares for `common.reproduce` and `common.report` (see common/phases.py)."""
from __future__ import annotations

from common.phases import Phase, Runner
from phase5_multimodal_financial_sentiment.config import PHASE as NAME, PRESET_DIR, Phase5Config
from phase5_multimodal_financial_sentiment.models import model_refs
from phase5_multimodal_financial_sentiment.reproduce import quick_steps, steps
from phase5_multimodal_financial_sentiment.tables import TABLES
from phase5_multimodal_financial_sentiment.train import main

# The data is a local manifest: only the encoders come from the hub (and torchvision). Its
# fusion models take text and an image, which no transformers pipeline serves.
PHASE = Phase(Runner(NAME, Phase5Config, PRESET_DIR, main, model_refs), steps, quick_steps, tables=TABLES,
              pipeline_tag=None)
