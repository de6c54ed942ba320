"""The reproduction runner, every preset file, and every command the READMEs show."""
from __future__ import annotations

import importlib
import re
import runpy
import sys
from pathlib import Path

import pytest

from common.config import build_config, load_preset
from common.reproduce import Context, main as reproduce_main, reproduce

ROOT = Path(__file__).resolve().parents[1]
PHASES = sorted(p.name for p in ROOT.glob("phase[0-9]_*"))
READMES = [ROOT / "README.md", *sorted(ROOT.glob("phase*/README.md"))]


def config_class(phase: str):
    runner = importlib.import_module(f"{phase}.phase").PHASE.runner
    return runner.config_cls, importlib.import_module(f"{phase}.config")


@pytest.mark.parametrize("phase", PHASES)
def test_every_preset_parses_and_names_only_known_keys(phase):
    cls, config = config_class(phase)
    presets = sorted(config.PRESET_DIR.glob("*.json"))
    assert presets, f"{phase} has no presets"
    for path in presets:
        build_config(cls, load_preset(path.stem, config.PRESET_DIR), where=str(path))  # raises on an unknown key


def readme_commands() -> list[tuple[Path, str]]:
    found = []
    for readme in READMES:
        for match in re.finditer(r"python (?:-m ([\w.]+)|(benchmarks/\w+\.py))([^`\n]*)", readme.read_text()):
            found.append((readme, match.group(1) or match.group(2), match.group(3)))
    return found


def test_readme_presets_exist():
    for readme, target, args in readme_commands():
        preset = re.search(r"--preset (\S+)", args)
        if target.endswith(".train") and preset and "$" not in preset.group(1) and "/" not in preset.group(1):
            _, config = config_class(target.rsplit(".", 1)[0])
            for name in preset.group(1).split(","):
                load_preset(name, config.PRESET_DIR)  # raises with the list of presets when unknown


@pytest.mark.filterwarnings("ignore:.*found in sys.modules:RuntimeWarning")  # runpy of an imported module
@pytest.mark.parametrize("target", sorted({t for _, t, _ in readme_commands() if t not in ("pytest",)}))
def test_every_readme_command_answers_help(target, capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", [target, "--help"])
    with pytest.raises(SystemExit) as exit_info:
        if target.endswith(".py"):
            runpy.run_path(str(ROOT / target), run_name="__main__")
        else:
            runpy.run_module(target, run_name="__main__", alter_sys=True)
            raise SystemExit(0)  # a sweep CLI prints its help and returns
    assert exit_info.value.code in (0, None)
    assert "usage" in capsys.readouterr().out.lower()


def test_quick_reproduction_runs_skips_finished_steps_and_rebuilds_tables(tmp_path, monkeypatch):
    import phase1_financial_phrasebank.reproduce as phase1

    monkeypatch.setattr(phase1, "PRESETS", ["distilbert", "regime_head_only", "fiqa_score",  # a tiny configuration
                                            "smollm2_lora_instruction"])
    monkeypatch.setattr(phase1, "TARGET_PRESETS", ["minilm_encoder_decoder_lora"])
    runs, out = tmp_path / "runs", tmp_path / "runs" / "experiments.md"
    first = reproduce(["phase1_financial_phrasebank"], Context(runs, quick=True, device="cpu"), out)
    # 6 synthetic data sets and tiny models (a tiny Llama among them), 5 training runs, 2 prompting baselines
    assert first == {**first, "ran": 13, "done before": 0}
    for name in ("distilbert_seed42", "regime_head_only_seed42", "fiqa_score_seed42",
                 "targets_minilm_encoder_decoder_lora_seed42", "smollm2_lora_instruction_seed42",
                 "prompt_tiny_llama_phrasebank_0shot_seed42", "prompt_tiny_llama_phrasebank_5shot_seed42"):
        assert (runs / "phase1_financial_phrasebank" / name / "metrics.json").exists()
    text = out.read_text()
    assert text.startswith("# Smoke results") and "| distilbert_seed42 | assets/tiny_distilbert_phrasebank |" in text
    assert "| regime_head_only_seed42 |" in text
    second = reproduce(["phase1_financial_phrasebank"], Context(runs, quick=True, device="cpu"), out)
    assert second["ran"] == 0 and second["done before"] == 13
    assert out.read_text().count("<!-- START TABLE phase1_main -->") == 1


def test_unknown_phase_is_a_clear_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        reproduce_main(["--quick", "--phases", "7", "--dry_run"])
    assert exit_info.value.code == 2
    assert "unknown phase(s) 7" in capsys.readouterr().err


@pytest.mark.parametrize("module", ["common.reproduce", "common.report", "phase1_financial_phrasebank.train",
                                    "phase4_medical_text_xai.screenshot",
                                    "phase5_multimodal_financial_sentiment.predict"])
def test_entry_points_run_from_any_folder(module, tmp_path):
    import os
    import subprocess

    result = subprocess.run([sys.executable, "-m", module, "--help"], cwd=tmp_path, capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}, timeout=300)
    assert result.returncode == 0 and "usage" in result.stdout.lower(), result.stderr[-1000:]
