"""What phase 5 declares for `common.reproduce` and `common.report` (see common/phases.py)."""
from __future__ import annotations

from common.hub import HubRef, model_ref, url_ref
from common.phases import Phase, Runner
from phase5_multimodal_financial_sentiment.config import PHASE as NAME, PRESET_DIR, Phase5Config
from phase5_multimodal_financial_sentiment.reproduce import quick_steps, steps
from phase5_multimodal_financial_sentiment.tables import CLAIMS, SUMMARY, TABLES
from phase5_multimodal_financial_sentiment.train import main

# torchvision's default ImageNet weights of each image_model (`get_model_weights(name).DEFAULT.url`,
# which tests/test_startup.py checks), written out so that `reproduce --check` reads them without
# importing torchvision and torch.
IMAGENET_WEIGHTS_URLS = {
    "resnet18": "https://download.pytorch.org/models/resnet18-f37072fd.pth",
    "resnet34": "https://download.pytorch.org/models/resnet34-b627a593.pth",
    "resnet50": "https://download.pytorch.org/models/resnet50-11ad3fa6.pth",
    "resnet101": "https://download.pytorch.org/models/resnet101-cd907fc2.pth",
    "resnet152": "https://download.pytorch.org/models/resnet152-f82ba261.pth",
}


def model_refs(cfg: Phase5Config) -> list[HubRef]:
    """What `build_model` downloads: the text encoder from the hub, the ImageNet weights from torchvision."""
    refs = model_ref(cfg.model_name_or_path, "") if cfg.modality != "image" else []
    if cfg.modality != "text" and cfg.image_weights != "none":
        refs.append(url_ref(IMAGENET_WEIGHTS_URLS[cfg.image_model], ""))
    return refs


# The data is a local manifest: only the encoders come from the hub (and torchvision). Its
# fusion models take text and an image, which no transformers pipeline serves.
PHASE = Phase(Runner(NAME, Phase5Config, PRESET_DIR, main, model_refs), steps, quick_steps, tables=TABLES,
              pipeline_tag=None, summary=SUMMARY, claims=CLAIMS)
