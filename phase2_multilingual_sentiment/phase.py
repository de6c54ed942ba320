"""What phase 2 declares for `common.reproduce`, `common.report` and its model cards (see common/phases.py)."""
from __future__ import annotations

from common.hub import HubRef
from common.phases import Phase, Runner, StudyData
from common.scratch import encoder_refs
from phase2_multilingual_sentiment.config import PHASE as NAME, PRESET_DIR, TWEET_DATASET, Phase2Config
from phase2_multilingual_sentiment.data import HUB_ID, data_refs, load_splits
from phase2_multilingual_sentiment.reproduce import quick_steps, steps
from phase2_multilingual_sentiment.tables import BLOCKS, FIGURES, SUMMARY, TABLES
from phase2_multilingual_sentiment.train import main


def hub_refs(cfg: Phase2Config) -> list[HubRef]:
    """The tweets (or another hub data set) and the encoder (or only the tokenizer of a model
    from scratch, or nothing with a trained one); phase 3 reads the same."""
    return data_refs(cfg) + encoder_refs(cfg)


# The repository is Apache-2.0; the tweets' own terms (their source data sets') apply.
TWEETS = StudyData(TWEET_DATASET, "XLM-T multilingual tweet sentiment (Barbieri et al. 2022)", HUB_ID, "other",
                   "the terms of the source tweet data sets", f"https://huggingface.co/datasets/{HUB_ID}")
PHASE = Phase(Runner(NAME, Phase2Config, PRESET_DIR, main, hub_refs, load_splits), steps, quick_steps, tables=TABLES,
              figures=FIGURES, blocks=BLOCKS, study_data=TWEETS, summary=SUMMARY)
