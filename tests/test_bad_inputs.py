"""Bad inputs and kills, as a new user meets them: each case is an exit 2 with a message that
names the problem and no traceback, or, where the input is valid, the documented behaviour.

The command-line cases are one table (`CLI_CASES`); the cases that need a run, a file or a
kill set up first follow it.
"""
from __future__ import annotations

import codecs
import json
import shutil
import struct
import zlib
from pathlib import Path

import pytest
import torch

from common.cli import run_cli
from common.errors import ConfigError, DataError
from common.records import read_jsonl
from phase1_financial_phrasebank.config import PHASE, PRESET_DIR, Phase1Config
from phase1_financial_phrasebank.train import main as phase1_main


def run_phase1(argv, capsys):
    """(exit code, stderr) of `phase1 train argv`; 0 when it ran."""
    try:
        run_cli(phase1_main, Phase1Config, PRESET_DIR, argv)
    except SystemExit as exit_info:
        return exit_info.code, capsys.readouterr().err
    return 0, capsys.readouterr().err


# (case, extra command-line keys, the message's words)
CLI_CASES = [
    ("max_length 0", ["--max_length", "0"], "max_length must be >= 4, got 0"),
    ("max_train_samples -1", ["--max_train_samples", "-1"], "max_train_samples must be >= 1, got -1"),
    ("warmup_ratio 5", ["--warmup_ratio", "5"], "warmup_ratio must be >= 0 and <= 1, got 5.0"),
    ("batch_size 0", ["--batch_size", "0"], "batch_size must be >= 1, got 0"),
    ("epochs 0", ["--epochs", "0"], "epochs must be >= 1, got 0"),
    ("eval_batch_size 0", ["--eval_batch_size", "0"], "eval_batch_size must be >= 1, got 0"),
    ("grad_accum_steps 0", ["--grad_accum_steps", "0"], "grad_accum_steps must be >= 1, got 0"),
    ("negative weight decay", ["--weight_decay", "-0.1"], "weight_decay must be non-negative, got -0.1"),
    ("momentum 1", ["--momentum", "1"], "momentum must be >= 0 and < 1, got 1.0"),
    ("learning rate 0", ["--learning_rate", "0"], "learning_rate must be positive, got 0.0"),
    ("learning rate nan", ["--learning_rate", "nan"], "learning_rate: nan is not a finite number"),
    ("negative seed", ["--seed", "-3"], "seed must be non-negative, got -3"),
    ("lora_dropout 1", ["--lora_dropout", "1"], "lora_dropout must be >= 0 and < 1, got 1.0"),
    ("abbreviated key", ["--max_train", "5"], "unknown config key 'max_train' (did you mean 'max_train_samples'?)"),
    ("abbreviated key 2", ["--learning_ra", "1e-3"],
     "unknown config key 'learning_ra' (did you mean 'learning_rate'?)"),
    ("absolute run name", ["--run_name", "/tmp/elsewhere"], "run_name: '/tmp/elsewhere' is not a relative folder name"),
    ("run name upwards", ["--run_name", "../escape"], "run_name: '../escape' is not a relative folder name"),
    ("run name dot-dot", ["--run_name", ".."], "run_name: '..' is not a relative folder name"),
    ("unknown choice", ["--optimizer", "adam"], "optimizer: 'adam' is not one of adamw, adafactor"),
    ("not a number", ["--epochs", "three"], "--epochs: cannot read 'three' as int"),
    ("missing data dir", ["--data_dir", "/no/such/dir"], "data directory /no/such/dir does not exist"),
    ("missing model", ["--model_name_or_path", "/no/such/model"], "could not load a tokenizer from '/no/such/model'"),
    ("missing device", ["--device", "cuda:7"], "device 'cuda:7'"),
    ("max_length beyond the model's positions", ["--max_length", "1024"],
     "max_length 1024: '{model}' reads at most 128 tokens (its position embeddings); set --max_length 128 or less"),
]


@pytest.mark.parametrize("case, extra, message", CLI_CASES, ids=[c[0] for c in CLI_CASES])
def test_bad_command_line_is_a_clear_error_and_creates_nothing(case, extra, message, capsys, tmp_path,
                                                               phrasebank_dir, tiny_model_dir):
    argv = ["--data_dir", str(phrasebank_dir), "--model_name_or_path", str(tiny_model_dir),
            "--output_dir", str(tmp_path / "runs"), "--device", "cpu", "--progress", "false", "--epochs", "1", *extra]
    code, err = run_phase1(argv, capsys)
    assert code == 2 and message.format(model=tiny_model_dir) in err and "Traceback" not in err, err
    assert not (tmp_path / "runs").exists()  # nothing was created
    assert not Path("/tmp/elsewhere").exists()


# --- runs that already exist: resume, overwrite, run names ---------------------------------------------

def test_resume_with_another_experiment_is_refused(tiny_config, capsys):
    run_dir = phase1_main(tiny_config(epochs=1))
    stored = (run_dir / "config.json").read_text()
    with pytest.raises(ConfigError, match=r"--resume of .* with another experiment \(learning_rate: 0.001 -> 0.5; "
                                          r"max_train_samples: None -> 20\)"):
        phase1_main(tiny_config(epochs=1, resume=True, learning_rate=0.5, max_train_samples=20))
    assert (run_dir / "config.json").read_text() == stored  # the record still says what was trained


def test_resume_may_change_only_how_it_runs_and_records_it(tiny_config):
    run_dir = phase1_main(tiny_config(epochs=1))
    phase1_main(tiny_config(epochs=1, resume=True, num_workers=1))
    record = json.loads((run_dir / "config.json").read_text())
    assert record["config"]["num_workers"] == 1
    assert record["resumes"][-1]["changed"] == {"resume": [False, True], "num_workers": [0, 1]}


def test_overwrite_deletes_only_a_run_directory(tiny_config, tmp_path):
    foreign = tmp_path / "runs" / PHASE / "notes"
    foreign.mkdir(parents=True)
    (foreign / "config.json").write_text('{"owner": "someone else"}')
    (foreign / "keep.txt").write_text("precious")
    with pytest.raises(ConfigError, match="--overwrite: .* is not a phase1_financial_phrasebank run directory"):
        phase1_main(tiny_config(run_name="notes", overwrite=True))
    assert (foreign / "keep.txt").read_text() == "precious"
    run_dir = phase1_main(tiny_config(run_name="mine", epochs=1))
    (run_dir / "extra.txt").write_text("old run")
    phase1_main(tiny_config(run_name="mine", epochs=1, overwrite=True))  # a run of this phase: replaced
    assert not (run_dir / "extra.txt").exists() and (run_dir / "metrics.json").exists()


def test_a_failed_start_leaves_no_run_directory(tiny_config, tmp_path):
    broken = tmp_path / "broken_model"
    broken.mkdir()
    (broken / "config.json").write_text("{not json")
    with pytest.raises(ConfigError, match="could not load"):
        phase1_main(tiny_config(model_name_or_path=str(broken)))
    assert not (tmp_path / "runs").exists()
    # the corrected command then starts normally (nothing half-made is in its way)
    assert (phase1_main(tiny_config(epochs=1)) / "metrics.json").exists()


# --- kills: history and metrics agree; training state has no pickled objects ----------------------------

@pytest.mark.parametrize("when", ["before the last checkpoint", "after the last checkpoint"])
def test_history_matches_metrics_after_a_kill(tiny_config, monkeypatch, when):
    import common.fit as fit_module

    real_save = fit_module.save_checkpoint

    def killed_at_the_final_epoch(directory, model, tokenizer=None, training_state=None):
        final = training_state is not None and training_state["epoch"] == 2
        if final and when == "before the last checkpoint":
            raise KeyboardInterrupt  # history.jsonl already has epoch 2, the checkpoint does not
        real_save(directory, model, tokenizer, training_state)
        if final:
            raise KeyboardInterrupt  # everything of epoch 2 is saved, metrics.json is not written

    monkeypatch.setattr(fit_module, "save_checkpoint", killed_at_the_final_epoch)
    with pytest.raises(KeyboardInterrupt):
        phase1_main(tiny_config(epochs=2))
    monkeypatch.setattr(fit_module, "save_checkpoint", real_save)
    run_dir = phase1_main(tiny_config(epochs=2, resume=True))
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert [row["epoch"] for row in read_jsonl(run_dir / "history.jsonl")] == [1, 2] == \
        list(range(1, metrics["epochs_trained"] + 1))


def test_training_state_loads_without_unpickling(tiny_config):
    from common.checkpoint import TRAINING_STATE, load_training_state

    run_dir = phase1_main(tiny_config(epochs=1))
    state = torch.load(run_dir / "checkpoints" / "last" / TRAINING_STATE, weights_only=True)  # would raise on objects
    assert state["epoch"] == 1 and isinstance(state["rng"]["numpy"]["keys"], torch.Tensor)
    with open(run_dir / "checkpoints" / "last" / TRAINING_STATE, "wb") as handle:
        torch.save({"epoch": 1, "payload": Path("/")}, handle)  # an object: refused, not executed
    with pytest.raises(ConfigError, match="cannot be read as a training state"):
        load_training_state(run_dir / "checkpoints" / "last")


# --- data files ---------------------------------------------------------------------------------------

ROWS = [("Sales rose sharply", "positive"), ("Profit fell", "negative"), ("The report is due", "neutral")] * 10


def write_csv_text(path: Path, text: str, encoding: str) -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def csv_text() -> str:
    return "text,label\n" + "".join(f"{t} {i},{label}\n" for i, (t, label) in enumerate(ROWS))


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16"])
def test_bom_and_utf16_files_read_like_utf8(tmp_path, encoding):
    from common.text_data import load_text_file

    plain = load_text_file(write_csv_text(tmp_path / "plain.csv", csv_text(), "utf-8"))
    other = load_text_file(write_csv_text(tmp_path / "other.csv", csv_text(), encoding))
    assert [(e.text, e.label) for e in other.train] == [(e.text, e.label) for e in plain.train]
    assert (tmp_path / "other.csv").read_bytes()[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, b"\xef\xbb")


def test_undecodable_file_is_a_clear_error(tmp_path):
    from common.text_data import load_text_file

    path = write_csv_text(tmp_path / "latin.csv", csv_text().replace("Profit", "Bénéfice"), "latin-1")
    with pytest.raises(DataError, match="latin.csv: not utf-8 text .* save it as UTF-8"):
        load_text_file(path)


@pytest.mark.parametrize("bad", ["NaN", "null", '"  "'])
def test_blank_or_nan_labels_name_the_rows(tmp_path, bad):
    from common.text_data import load_text_file

    lines = [json.dumps({"text": f"{t} {i}", "label": label}) for i, (t, label) in enumerate(ROWS)]
    lines[3] = f'{{"text": "odd one", "label": {bad}}}'
    lines[7] = f'{{"text": "odd two", "label": {bad}}}'
    (tmp_path / "rows.jsonl").write_text("\n".join(lines))
    with pytest.raises(DataError, match=r"rows.jsonl: 2 row\(s\) with an empty or missing 'label': row\(s\) 4, 8"):
        load_text_file(tmp_path / "rows.jsonl")


def test_corrupt_image_stream_is_found_before_training(tmp_path):
    from PIL import Image

    from phase5_multimodal_financial_sentiment.data import resolve_image

    path = tmp_path / "chart.png"
    Image.new("RGB", (64, 64), (200, 30, 30)).save(path)
    data = bytearray(path.read_bytes())
    at = data.index(b"IDAT")  # the chunk: length (4 bytes), type, data, CRC of type + data
    length = struct.unpack(">I", data[at - 4:at])[0]
    garbage = bytes((7 * i + 3) % 256 for i in range(length))  # not a zlib stream
    data[at + 4:at + 4 + length] = garbage
    data[at + 4 + length:at + 8 + length] = struct.pack(">I", zlib.crc32(b"IDAT" + garbage))
    path.write_bytes(bytes(data))
    with Image.open(path) as image:
        image.verify()  # headers and checksums are sound: verify() alone lets it through
    with pytest.raises(DataError, match=r"row 3: image .*chart.png cannot be read"):
        resolve_image(tmp_path, "chart.png", "manifest.csv, row 3")


def test_an_image_over_the_pixel_limit_is_refused_from_its_header(tmp_path):
    from PIL import Image

    from phase5_multimodal_financial_sentiment.data import resolve_image

    Image.new("RGB", (64, 64)).save(tmp_path / "chart.png")
    with pytest.raises(DataError, match=r"row 2: image .*chart.png is 64 x 64 = 4,096 pixels, more than "
                                        r"max_image_pixels \(4,000\).*--max_image_pixels"):
        resolve_image(tmp_path, "chart.png", "manifest.csv, row 2", max_pixels=4000)
    assert resolve_image(tmp_path, "chart.png", "manifest.csv, row 2", max_pixels=4096) == tmp_path / "chart.png"


def test_a_16_bit_image_keeps_its_range_and_a_float_image_is_refused(tmp_path):
    import numpy as np
    from PIL import Image

    from phase5_multimodal_financial_sentiment.data import ImageTransform, resolve_image

    ramp = np.tile(np.linspace(0, 65535, 64).round().astype(np.uint16), (64, 1))
    Image.fromarray(ramp).save(tmp_path / "deep.png")  # mode I;16 (or I): PIL's own convert("RGB") clips it to white
    with Image.open(tmp_path / "deep.png") as image:
        assert image.mode in ("I;16", "I") and (np.asarray(image.convert("RGB")) == 255).mean() > 0.95
    resolve_image(tmp_path, "deep.png", "row 1")
    pixels = ImageTransform(64).load(tmp_path / "deep.png").numpy()  # 3 x 64 x 64 uint8
    assert pixels.shape == (3, 64, 64) and pixels.min() == 0 and pixels.max() == 255
    assert np.array_equal(pixels[0, 0], (ramp[0].astype(np.int64) * 255 / 65535).round().astype(np.uint8))
    Image.fromarray(np.zeros((8, 8), dtype=np.float32)).save(tmp_path / "float.tiff")
    with pytest.raises(DataError, match=r"row 4: image .*float.tiff: mode F \(32-bit float pixels\) has no fixed"):
        resolve_image(tmp_path, "float.tiff", "row 4")


def test_predict_refuses_a_checkpoint_of_another_phase(tmp_path, tiny_model_dir, capsys):
    from phase5_multimodal_financial_sentiment.predict import main as predict_main

    (tmp_path / "m.csv").write_text("text,image\nup,a.png\n")
    with pytest.raises(SystemExit) as exit_info:
        predict_main(["--model", str(tiny_model_dir), "--manifest", str(tmp_path / "m.csv"),
                      "--out", str(tmp_path / "p.csv")])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "holds a distilbert model, not a phase 5 multimodal_sentiment model" in err
    assert "Traceback" not in err and not (tmp_path / "p.csv").exists()


# --- the report ---------------------------------------------------------------------------------------

def test_report_without_runs_is_an_error_and_leaves_the_file(tmp_path, capsys):
    from common.report import main as report_main

    out = tmp_path / "experiments.md"
    out.write_text("# Experiments\nhand-written prose\n")
    for runs in (tmp_path / "empty", tmp_path / "missing"):
        (tmp_path / "empty").mkdir(exist_ok=True)
        with pytest.raises(SystemExit) as exit_info:
            report_main(["--runs", str(runs), "--out", str(out)])
        err = capsys.readouterr().err
        assert exit_info.value.code == 2 and "no finished runs" in err and "Traceback" not in err
    assert out.read_text() == "# Experiments\nhand-written prose\n"


def test_report_skips_an_unreadable_run_with_a_warning(tiny_config, tmp_path, capsys):
    from common.report import main as report_main

    good = phase1_main(tiny_config(run_name="good", epochs=1))
    bad = phase1_main(tiny_config(run_name="bad", epochs=1))
    (bad / "metrics.json").write_text('{"test_f1_macro": 0.5, "val_')  # cut short
    report_main(["--runs", str(good.parent.parent), "--out", str(tmp_path / "experiments.md")])
    captured = capsys.readouterr()
    assert f"warning: skipping {bad}" in captured.err and "1 finished runs" in captured.out


# --- sweeps ---------------------------------------------------------------------------------------------

def test_sweep_device_key_is_not_taken_for_devices(tmp_path):
    from common.sweep import parse_sweep_cli

    (tmp_path / "grid.yaml").write_text("sampler: grid\nparams:\n  learning_rate: [1.0e-3]\n")
    args, spec = parse_sweep_cli("phase2_multilingual_sentiment",
                                 ["--space", str(tmp_path / "grid.yaml"), "--device", "cpu"])
    assert args.devices == "" and spec.base["device"] == "cpu"


def test_storage_password_never_shows(tmp_path):
    from common.sweep_workers import masked, open_storage

    url = "postgresql://alice:s3cr3t-pass@127.0.0.1:9/studies"
    assert masked(url) == "postgresql://alice:***@127.0.0.1:9/studies"
    with pytest.raises(ConfigError) as info:
        open_storage(url)
    assert "s3cr3t-pass" not in str(info.value) and "alice:***@127.0.0.1" in str(info.value)


# --- phase 4 explain and phase 5 predict --------------------------------------------------------------

@pytest.fixture(scope="module")
def phase4_run(tmp_path_factory):
    from phase4_medical_text_xai.config import Phase4Config
    from phase4_medical_text_xai.synthetic import synthetic_abstracts, write_abstracts, write_labels
    from phase4_medical_text_xai.train import main as phase4_main
    from common.random_encoders import write_tiny_roberta

    root = tmp_path_factory.mktemp("phase4_bad")
    rows = synthetic_abstracts(100)
    write_abstracts(root / "data" / "medical_tc_test.csv", rows)
    write_labels(root / "data")
    model = write_tiny_roberta(root / "model", [text for _, text in rows])
    return phase4_main(Phase4Config(model_name_or_path=str(model), data_dir=str(root / "data"),
                                    output_dir=str(root / "runs"), run_name="tiny", device="cpu", epochs=1,
                                    batch_size=16, max_length=48, learning_rate=1e-3, progress=False))


@pytest.mark.parametrize("extra, message", [
    (["--ig_steps", "0"], "--ig_steps must be at least 1, got 0"),
    (["--fractions", "0"], "--fractions must be at least 1, got 0"),
    (["--n", "0"], "--n must be at least 1, got 0"),
    (["--ig_batch_size", "0"], "--ig_batch_size must be at least 1, got 0"),
    (["--out", "{file}"], "is a file; explanations are a folder"),
])
def test_explain_settings_out_of_range(phase4_run, extra, message, capsys, tmp_path):
    from phase4_medical_text_xai.explain import main as explain_main

    (tmp_path / "a_file").write_text("x")
    with pytest.raises(SystemExit) as exit_info:
        explain_main(["--run", str(phase4_run), "--device", "cpu",
                      *[arg.format(file=tmp_path / "a_file") for arg in extra]])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and message in err and "Traceback" not in err


def test_explain_refuses_predictions_without_their_text(phase4_run, tmp_path, capsys):
    from phase4_medical_text_xai.explain import main as explain_main

    copy = tmp_path / "copy"
    shutil.copytree(phase4_run, copy)
    (copy / "predictions.csv").write_text("label,prediction\nneoplasms,neoplasms\n")
    with pytest.raises(SystemExit) as exit_info:
        explain_main(["--run", str(copy), "--device", "cpu", "--n", "1"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "has no column 'text'" in err and "Traceback" not in err


def test_explain_after_a_kill_mid_line_explains_that_example_again(phase4_run, capsys):
    from phase4_medical_text_xai.explain import explain_run

    out = explain_run(phase4_run, 2, ["lrp"], device="cpu", ig_steps=4)
    log = out / "examples.jsonl"
    lines = log.read_text().splitlines()
    log.write_text(lines[0] + "\n" + lines[1][:40])  # killed while writing the second example
    explain_run(phase4_run, 2, ["lrp"], device="cpu", ig_steps=4)
    assert "was cut short" in capsys.readouterr().out
    assert [json.loads(line)["index"] for line in log.read_text().splitlines()] == [0, 1]


def test_predict_takes_validation_for_val(tmp_path):
    from phase5_multimodal_financial_sentiment.config import Phase5Config
    from phase5_multimodal_financial_sentiment.make_synthetic import make_dataset, vocabulary
    from phase5_multimodal_financial_sentiment.predict import predict_manifest
    from phase5_multimodal_financial_sentiment.train import main as phase5_main
    from common.random_encoders import write_tiny_bert

    manifest = make_dataset(tmp_path / "charts", n=60, seed=0, size=48)
    encoder = write_tiny_bert(tmp_path / "bert", vocabulary())
    run_dir = phase5_main(Phase5Config(model_name_or_path=str(encoder), data_dir=str(manifest.parent),
                                       output_dir=str(tmp_path / "runs"), run_name="tiny", device="cpu", epochs=1,
                                       batch_size=16, image_model="resnet18", image_weights="none", image_size=32,
                                       max_length=24, progress=False))
    by_alias, _ = predict_manifest(run_dir / "checkpoints" / "best", manifest, "validation", "cpu")
    by_name, _ = predict_manifest(run_dir / "checkpoints" / "best", manifest, "val", "cpu")
    assert len(by_alias) == len(by_name) > 0
    with pytest.raises(DataError, match="--split 'holdout': not a split name"):
        predict_manifest(run_dir / "checkpoints" / "best", manifest, "holdout", "cpu")


# --- inputs past the command line: long fields, shared folders ------------------------------------------

def test_a_csv_field_longer_than_the_csv_modules_limit_is_read(tiny_config, tmp_path):
    import csv

    rows = [{"text": ("clinical note " * 12000 if i == 0 else f"short note {i} rose"), "label": ["up", "down"][i % 2]}
            for i in range(60)]
    with open(tmp_path / "notes.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["text", "label"])
        writer.writeheader()
        writer.writerows(rows)
    assert len(rows[0]["text"]) > 131072  # the csv module's default field limit
    run_dir = phase1_main(tiny_config(data_dir=str(tmp_path), dataset="notes.csv", epochs=1))
    assert json.loads((run_dir / "metrics.json").read_text())["data"]["sizes"]["train"] >= 40


def test_records_are_readable_as_the_umask_allows(tiny_config):
    import os

    mask = os.umask(0o022)
    try:
        run_dir = phase1_main(tiny_config(epochs=1))
    finally:
        os.umask(mask)
    for name in ("metrics.json", "config.json", "history.jsonl", "predictions.csv"):
        assert (run_dir / name).stat().st_mode & 0o777 == 0o644, name


def test_an_output_dir_that_is_a_file_is_a_clear_error(capsys, tmp_path, phrasebank_dir, tiny_model_dir):
    (tmp_path / "runs").write_text("not a folder")
    argv = ["--data_dir", str(phrasebank_dir), "--model_name_or_path", str(tiny_model_dir), "--output_dir",
            str(tmp_path / "runs"), "--device", "cpu", "--progress", "false", "--epochs", "1"]
    code, err = run_phase1(argv, capsys)
    assert code == 2 and "is a file, not a folder" in err and "Traceback" not in err
    assert (tmp_path / "runs").read_text() == "not a folder"


def test_a_training_split_of_one_class_is_refused(tiny_config, tmp_path):
    rows = "text,label\n" + "".join(f"note {i} about shares,up\n" for i in range(40))
    (tmp_path / "one.csv").write_text(rows)
    with pytest.raises(DataError, match=r"the training split holds one class only \('up', \d+ examples\)"):
        phase1_main(tiny_config(data_dir=str(tmp_path), dataset="one.csv", output_dir=str(tmp_path / "runs")))
    assert not (tmp_path / "runs").exists()


# --- names that become paths, sweep spaces ------------------------------------------------------------

@pytest.mark.parametrize("name", ["../../../somewhere", "a/b", "/tmp/x", "~x", " a"])
def test_a_study_name_outside_its_folder_is_refused_before_anything_is_written(tmp_path, name, capsys):
    from common.cli import exit_on_bad_input
    from common.sweep import parse_sweep_cli

    space = tmp_path / "space.yaml"
    space.write_text(f"study_name: {json.dumps(name)}\nsampler: grid\nparams:\n  learning_rate: [1.0e-3]\n")
    with pytest.raises(SystemExit) as exit_info:
        exit_on_bad_input(lambda: parse_sweep_cli("phase2_multilingual_sentiment",
                                                  ["--space", str(space), "--output_dir", str(tmp_path / "runs")]))
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "study_name" in err and "is not a plain folder name" in err
    assert "Traceback" not in err and not (tmp_path / "runs").exists()
    with pytest.raises(SystemExit):  # the same name on the command line
        space.write_text("sampler: grid\nparams:\n  learning_rate: [1.0e-3]\n")
        exit_on_bad_input(lambda: parse_sweep_cli("phase2_multilingual_sentiment",
                                                  ["--space", str(space), "--study_name", name]))
    assert "is not a plain folder name" in capsys.readouterr().err


@pytest.mark.parametrize("text, message", [
    ("seed: abc\nparams:\n  learning_rate: [1.0e-3]\n", "seed must be a whole number >= 0, got 'abc'"),
    ("n_trials: -2\nparams:\n  learning_rate: [1.0e-3]\n", "n_trials must be a whole number >= 0, got -2"),
    ("sampler: random\nparams:\n  learning_rate: {low: 1.0e-4, high: 1.0e-3, step: abc}\n",
     "step must be a positive number, got 'abc'"),
])
def test_malformed_space_values_are_one_line_errors(tmp_path, text, message):
    from common.search_space import load_search_space
    from phase2_multilingual_sentiment.config import Phase2Config

    (tmp_path / "space.yaml").write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_search_space(tmp_path / "space.yaml", Phase2Config)


# --- a run directory in use, interruptions ----------------------------------------------------------------

def write_lock(run_dir: Path, pid: int, host: str) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "run.lock").write_text(json.dumps({"pid": pid, "host": host, "since": "2026-01-01T00:00:00+00:00"}))


def test_a_run_directory_in_use_by_a_live_process_is_refused(tiny_config, tmp_path):
    import os
    import socket

    phase1_main(tiny_config(epochs=1))
    run_dir = tmp_path / "runs" / PHASE / "tiny"
    assert not (run_dir / "run.lock").exists()  # released when the run finished
    before = (run_dir / "metrics.json").read_bytes()
    write_lock(run_dir, os.getppid(), socket.gethostname())  # a live process that is not this one
    for key in ("resume", "overwrite"):
        with pytest.raises(ConfigError, match=rf"is in use: process {os.getppid()} on this host"):
            phase1_main(tiny_config(epochs=1, **{key: True}))
    assert (run_dir / "metrics.json").read_bytes() == before  # --overwrite deleted nothing
    write_lock(run_dir, os.getppid(), "another-host")
    with pytest.raises(ConfigError, match="locked by process .* on host another-host .* delete .*run.lock"):
        phase1_main(tiny_config(epochs=1, overwrite=True))


def test_a_stale_lock_is_recognised_and_taken_over(tiny_config, tmp_path, capsys):
    import socket
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    run_dir = tmp_path / "runs" / PHASE / "tiny"
    phase1_main(tiny_config(epochs=1))
    write_lock(run_dir, int(dead), socket.gethostname())  # a run killed without removing its lock
    phase1_main(tiny_config(epochs=1, overwrite=True))
    assert f"left by process {dead}, which is no longer running" in capsys.readouterr().out
    assert (run_dir / "metrics.json").exists() and not (run_dir / "run.lock").exists()


def test_ctrl_c_says_where_the_run_stopped_and_how_to_resume(tiny_config, monkeypatch, capsys, phrasebank_dir,
                                                            tiny_model_dir, tmp_path):
    import common.fit as fit_module

    real_save = fit_module.save_checkpoint

    def interrupted_after_epoch_1(directory, model, tokenizer=None, training_state=None):
        real_save(directory, model, tokenizer, training_state)
        if training_state is not None and training_state["epoch"] == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(fit_module, "save_checkpoint", interrupted_after_epoch_1)
    argv = ["--data_dir", str(phrasebank_dir), "--model_name_or_path", str(tiny_model_dir), "--output_dir",
            str(tmp_path / "runs"), "--device", "cpu", "--progress", "false", "--epochs", "2", "--max_length", "32",
            "--run_name", "stopped"]
    code, err = run_phase1(argv, capsys)
    run_dir = tmp_path / "runs" / PHASE / "stopped"
    assert code == 130 and "Traceback" not in err
    assert f"interrupted (SIGINT): {run_dir} has 1 of 2 epoch(s) finished; continue it with: python " in err
    assert err.rstrip().endswith("--run_name stopped --resume")
    monkeypatch.setattr(fit_module, "save_checkpoint", real_save)
    assert run_phase1(argv + ["--resume"], capsys)[0] == 0
    assert [row["epoch"] for row in read_jsonl(run_dir / "history.jsonl")] == [1, 2]


def test_sigterm_stops_a_real_process_with_the_resume_line(phrasebank_dir, tiny_model_dir, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    run_dir = tmp_path / "runs" / PHASE / "terminated"
    command = [sys.executable, "-m", "phase1_financial_phrasebank.train", "--data_dir", str(phrasebank_dir),
               "--model_name_or_path", str(tiny_model_dir), "--output_dir", str(tmp_path / "runs"), "--device", "cpu",
               "--progress", "false", "--epochs", "200", "--max_length", "32", "--run_name", "terminated"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)})
    deadline = time.monotonic() + 120
    while not (run_dir / "history.jsonl").exists() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.2)
    process.send_signal(signal.SIGTERM)
    err = process.communicate(timeout=120)[1]
    assert process.returncode == 130, err
    assert "Traceback" not in err and "interrupted (SIGTERM): " in err and "--resume" in err
    assert not (run_dir / "run.lock").exists()  # released on the way out


# --- damage and resources ----------------------------------------------------------------------------------

def test_a_damaged_checkpoint_is_named_before_the_run_is_reopened(tiny_config, monkeypatch, tmp_path):
    import common.fit as fit_module

    real_save = fit_module.save_checkpoint

    def killed_after_epoch_1(directory, model, tokenizer=None, training_state=None):
        real_save(directory, model, tokenizer, training_state)
        if training_state is not None:
            raise KeyboardInterrupt

    monkeypatch.setattr(fit_module, "save_checkpoint", killed_after_epoch_1)
    with pytest.raises(KeyboardInterrupt):
        phase1_main(tiny_config(epochs=2))
    monkeypatch.setattr(fit_module, "save_checkpoint", real_save)
    run_dir = tmp_path / "runs" / PHASE / "tiny"
    weights = run_dir / "checkpoints" / "last" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])  # an interrupted copy
    config_before = (run_dir / "config.json").read_bytes()
    with pytest.raises(ConfigError, match=r"model.safetensors is damaged .*start it anew with --overwrite"):
        phase1_main(tiny_config(epochs=2, resume=True))
    assert (run_dir / "config.json").read_bytes() == config_before  # no resume was recorded


@pytest.fixture
def small_disk(tmp_path):
    """A 64 KB tmpfs, where the machine lets the tests mount one."""
    import subprocess

    mount = tmp_path / "disk"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], capture_output=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({made.stderr.decode().strip() or made.returncode})")
    yield mount
    subprocess.run(["umount", str(mount)], capture_output=True)


def test_too_little_space_for_the_checkpoints_is_refused_before_training(tiny_config, small_disk):
    with pytest.raises(ConfigError, match=r"MB free and the checkpoints of this model take about .* MB"):
        phase1_main(tiny_config(output_dir=str(small_disk / "runs"), epochs=1))
    run_dir = small_disk / "runs" / PHASE / "tiny"
    assert not (run_dir / "history.jsonl").exists() and not (run_dir / "checkpoints").exists()


def test_a_write_on_a_full_disk_is_one_error_and_leaves_no_temporary_file(small_disk):
    from common.records import write_json

    (small_disk / "filler").write_bytes(b"x" * (64 * 1024 - 4096))
    with pytest.raises(ConfigError, match="no space left on the device of .*metrics.json: nothing half-written"):
        write_json(small_disk / "metrics.json", {"rows": ["y" * 100] * 200})
    assert sorted(p.name for p in small_disk.iterdir()) == ["filler"]


# --- the other tools' inputs ------------------------------------------------------------------------------

def test_report_skips_a_metrics_file_that_is_not_a_record_and_names_a_broken_benchmark(tiny_config, tmp_path,
                                                                                          capsys):
    from common.report import main as report_main

    run_dir = phase1_main(tiny_config(epochs=1))
    shutil.copytree(run_dir, run_dir.parent / "listed")
    (run_dir.parent / "listed" / "metrics.json").write_text("[1, 2]")
    (tmp_path / "runs" / "benchmarks").mkdir()
    (tmp_path / "runs" / "benchmarks" / "killed.json").write_text('{"title": "x", "rows": [')
    out = tmp_path / "experiments.md"
    report_main(["--runs", str(tmp_path / "runs"), "--out", str(out)])
    err = capsys.readouterr().err
    assert "skipping" in err and "listed" in err and "not a JSON object" in err
    assert "killed.json cannot be read" in err and "Traceback" not in err
    assert "killed.json: the result file cannot be read" in (tmp_path / "benchmarks.md").read_text()
    with pytest.raises(SystemExit) as exit_info:
        report_main(["--runs", str(tmp_path / "runs"), "--out", str(tmp_path)])
    assert exit_info.value.code == 2 and "is a folder; name the Markdown file" in capsys.readouterr().err


@pytest.mark.parametrize("content, message", [
    ("", "cannot be read as a table"),
    ("text,label\nup,positive\n", "no 'prediction' column (it has text, label)"),
    ("label,prediction\n", "no rows"),
])
def test_compare_names_a_malformed_predictions_file(tiny_config, tmp_path, content, message, capsys):
    from common.compare import main as compare_main

    run_dir = phase1_main(tiny_config(epochs=1))
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "predictions.csv").write_text(content)
    with pytest.raises(SystemExit) as exit_info:
        compare_main([str(run_dir), str(broken)])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and message in err and "Traceback" not in err


# --- nonsense refused or flagged ------------------------------------------------------------------------

def test_cleaning_that_removes_every_row_says_so_with_counts(tiny_config, tmp_path):
    rows = "text,label\n" + "".join(f"same headline,{label}\n" for label in ("up", "down") * 20)
    (tmp_path / "same.csv").write_text(rows)
    with pytest.raises(DataError, match=r"same.csv: cleaning removed every one of the 40 rows: 39 repeated an "
                                        r"earlier row and 1 text\(s\) were filed under more than one label"):
        phase1_main(tiny_config(data_dir=str(tmp_path), dataset="same.csv", output_dir=str(tmp_path / "runs")))
    assert not (tmp_path / "runs").exists()


def test_cleaning_that_removes_most_rows_is_a_warning_with_counts():
    from common.diagnostics import data_warnings

    (warning,) = data_warnings({"cleaning": {"raw": 100, "duplicates_removed": 55, "conflicting_texts_dropped": 5,
                                             "clean": 40}})
    assert warning.startswith("cleaning kept 40 of 100 rows (55 repeated an earlier row, 5 texts were filed")
    assert data_warnings({"cleaning": {"raw": 100, "duplicates_removed": 3, "conflicting_texts_dropped": 0,
                                       "clean": 97}}) == []


def test_a_stratification_error_names_the_labels(tiny_config, tmp_path):
    rows = "text,label\n" + "".join(f"headline {i},up\n" for i in range(30)) + "lonely headline,down\n"
    (tmp_path / "rare.csv").write_text(rows)
    with pytest.raises(DataError, match=r"rare.csv: too few rows for a stratified split \(31 rows; per label "
                                        r"\{'(down|up)': \d+, '(down|up)': \d+\}\)"):
        phase1_main(tiny_config(data_dir=str(tmp_path), dataset="rare.csv", output_dir=str(tmp_path / "runs")))


@pytest.mark.parametrize("repo_id", ["me/bad name", "me/--double", "me/" + "x" * 97])
def test_publish_refuses_a_repo_id_the_hub_would_refuse_even_in_a_dry_run(tmp_path, repo_id, capsys):
    from common.publish import main as publish_main

    with pytest.raises(SystemExit) as exit_info:
        publish_main([str(tmp_path), "--repo_id", repo_id, "--dry_run"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "the hub would refuse it" in err and "Traceback" not in err


@pytest.mark.parametrize("phase, message", [("9", "--phase: unknown phase(s) 9"),
                                            ("1,2", "--phase: one phase, got '1,2'")])
def test_baseline_needs_one_known_phase(tmp_path, phase, message, capsys):
    from common.baseline import main as baseline_main

    with pytest.raises(SystemExit) as exit_info:
        baseline_main(["--phase", phase, "--model", "x", "--output_dir", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and message in err and "Traceback" not in err


def test_baseline_with_a_model_that_does_not_exist_is_one_line(tmp_path, capsys):
    from common.baseline import main as baseline_main

    with pytest.raises(SystemExit) as exit_info:
        baseline_main(["--phase", "1", "--model", str(tmp_path / "nowhere"), "--output_dir", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "could not load model" in err and "Traceback" not in err
    assert not (tmp_path / "runs").exists()
