"""A command's `--help` and `reproduce --check` start without torch, transformers, peft or
scikit-learn (seconds of imports each): checked by what a fresh interpreter has imported,
not by timing (the machines are shared). benchmarks/startup.py prints the times."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from common import REPO_ROOT

HEAVY = ("torch", "transformers", "peft", "sklearn", "scipy", "matplotlib", "torchvision", "pandas", "optuna")
LIGHT_MODULES = [
    "common.reproduce", "common.report", "common.publish", "common.baseline", "common.prompting",
    "common.offline_models", "common.model_options",
    "phase1_financial_phrasebank.train", "phase1_financial_phrasebank.fiqa.train_targets",
    "phase2_multilingual_sentiment.train", "phase2_multilingual_sentiment.sweep", "phase3_hp_tuning_xlm_roberta.train",
    "phase4_medical_text_xai.train", "phase4_medical_text_xai.explain", "phase5_multimodal_financial_sentiment.train",
    "phase5_multimodal_financial_sentiment.predict", "phase5_multimodal_financial_sentiment.price_baselines",
    *(f"{phase}.phase" for phase in ("phase1_financial_phrasebank", "phase2_multilingual_sentiment",
                                     "phase3_hp_tuning_xlm_roberta", "phase4_medical_text_xai",
                                     "phase5_multimodal_financial_sentiment")),
]
# The tables modules may read their result files with pandas when a report is built; nothing else heavy.
ALLOWED = {"phase3_hp_tuning_xlm_roberta.phase": {"pandas"}}


def imported_heavy(code: str) -> list[str]:
    """The heavy packages a fresh interpreter has imported after running `code`."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))"
    done = subprocess.run([sys.executable, "-c", probe], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("module", LIGHT_MODULES)
def test_entry_points_import_no_heavy_library(module):
    assert set(imported_heavy(f"import {module}")) <= ALLOWED.get(module, set())


def run_module_code(module: str, argv: list[str]) -> str:
    """Code that runs `python -m module *argv` in this interpreter, its output and exit swallowed."""
    return ("import contextlib, io, runpy, sys\n"
            f"sys.argv = [{module!r}, *{argv!r}]\n"
            "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
            f"    runpy.run_module({module!r}, run_name='__main__', alter_sys=True)\n")


@pytest.mark.parametrize("module", ["phase1_financial_phrasebank.train", "phase2_multilingual_sentiment.train",
                                    "phase4_medical_text_xai.train", "phase5_multimodal_financial_sentiment.train",
                                    "phase1_financial_phrasebank.fiqa.train_targets", "phase4_medical_text_xai.explain",
                                    "common.prompting", "common.baseline",
                                    "phase5_multimodal_financial_sentiment.price_baselines"])
def test_help_imports_no_heavy_library(module):
    assert imported_heavy(run_module_code(module, ["--help"])) == []


def test_reproduce_plan_builds_every_config_without_torch(tmp_path):
    """The plan `reproduce --check` resolves (every phase's steps, configs and hub references,
    listed here by --dry_run: no network) is built without the heavy libraries."""
    code = run_module_code("common.reproduce", ["--dry_run", "--runs", str(tmp_path)])
    assert set(imported_heavy(code)) <= {"pandas"}  # phase 3's tables module reads trials with it


def test_imagenet_weights_urls_are_torchvisions():
    """The weights phase 5 names for `reproduce --check` without importing torchvision are the
    ones torchvision loads."""
    torchvision = pytest.importorskip("torchvision")
    from phase5_multimodal_financial_sentiment.config import Phase5Config
    from phase5_multimodal_financial_sentiment.phase import IMAGENET_WEIGHTS_URLS

    choices = Phase5Config.__dataclass_fields__["image_model"].metadata["choices"]
    assert set(IMAGENET_WEIGHTS_URLS) == set(choices)
    for name, url in IMAGENET_WEIGHTS_URLS.items():
        assert torchvision.models.get_model_weights(name).DEFAULT.url == url
