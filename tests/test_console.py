"""A quiet, honest console: transformers' load report folded into one line (what a load left
new or unused outside the head, nothing when the encoder loaded whole; no table, no colour
codes, no progress bar); no resume message for a run nobody resumed; no fault-handler
warning outside torchrun."""
from __future__ import annotations

import pytest

from common.heads import build_mean_pooling_classifier
from common.load_report import describe_loading
from common.models import load_classifier
from common.random_encoders import write_tiny_bert


@pytest.fixture(scope="module")
def tiny_bert_without_pooler(tmp_path_factory):
    # BertModel saves a pooler; a BERT-architecture sentence encoder (multilingual-e5) may not have one
    from safetensors.torch import load_file, save_file

    directory = write_tiny_bert(tmp_path_factory.mktemp("bert"), {"shares", "rose"}, architecture="bert")
    weights = load_file(directory / "model.safetensors")
    save_file({k: v for k, v in weights.items() if not k.startswith("pooler.")}, directory / "model.safetensors",
              metadata={"format": "pt"})
    return directory


def test_one_line_names_what_the_checkpoint_lacked(tiny_bert_without_pooler, capfd):
    load_classifier(str(tiny_bert_without_pooler), ["neg", "pos"])
    build_mean_pooling_classifier(str(tiny_bert_without_pooler), {0: "neg", 1: "pos"}, 8, 0.1)
    out, err = capfd.readouterr()
    lines = [line for line in out.splitlines() if line.startswith("loaded ")]
    assert len(lines) == 2
    assert lines[0].endswith("2 weights not in the checkpoint, newly initialised: bert.pooler.dense.bias, "
                             "bert.pooler.dense.weight")  # the classifier's names
    assert lines[1].endswith("2 weights not in the checkpoint, newly initialised: pooler.dense.bias, "
                             "pooler.dense.weight")  # the bare encoder's
    assert "classification head: new head" in out
    assert "LOAD REPORT" not in out + err and "\x1b[" not in out + err and "Loading weights" not in err


def test_a_whole_encoder_is_not_mentioned_and_long_lists_are_cut():
    assert describe_loading("m", {"missing_keys": ["classifier.weight"]}, {"classifier.weight"}) is None
    line = describe_loading("m", {"missing_keys": [], "unexpected_keys": [f"lm_head.{i}" for i in range(6)]})
    assert line == "loaded m: 6 checkpoint weights unused: lm_head.0, lm_head.1, lm_head.2, lm_head.3 and 2 more"


def test_resume_of_a_run_that_never_started_says_nothing(tiny_config, capsys):
    from phase1_financial_phrasebank.train import main

    main(tiny_config(run_name="fresh", epochs=1, resume=True))  # what `common.reproduce` passes every step
    assert "--resume: no checkpoint" not in capsys.readouterr().out


def test_the_cli_turns_on_no_fault_handler_outside_torchrun(tiny_config, monkeypatch, tmp_path, capsys):
    # capsys: stderr is then a stream without a file descriptor, as wherever output is captured
    import warnings

    from common.cli import run_cli
    from phase1_financial_phrasebank.config import PRESET_DIR, Phase1Config

    monkeypatch.delenv("TORCHELASTIC_ERROR_FILE", raising=False)
    cfg = tiny_config(epochs=1)
    argv = ["--model_name_or_path", cfg.model_name_or_path, "--data_dir", cfg.data_dir, "--output_dir",
            str(tmp_path / "cli"), "--device", "cpu", "--epochs", "1", "--max_steps", "1", "--progress", "false"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run_cli(lambda cfg, provenance: None, Phase1Config, PRESET_DIR, argv)
    assert not [w for w in caught if "fault handler" in str(w.message)]
