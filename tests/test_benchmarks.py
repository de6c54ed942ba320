"""The arithmetic of the phase 1 vs Trainer benchmark: variant names, and the ratios and
differences it reports against its reference (computed per seed, then averaged); the step
profiler run end to end on a tiny model."""
import importlib.util
import sys
from pathlib import Path

import pytest
import torch

from common.report import render_benchmark

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "phase1_vs_trainer.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("phase1_vs_trainer", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules[spec.name]


CPU = torch.device("cpu")


def test_variant_names_fill_defaults_and_reject_bad_ones(bench):
    variant = bench.Variant.parse("loop-grouped", CPU)
    assert variant.name == "loop-grouped-fp32-fused"
    trainer = bench.Variant("trainer", "random", "fp32", "fused")
    assert variant.reference(bench.Variant("trainer", "random")) == trainer
    assert bench.Variant.parse("Trainer-Random-FP32-foreach", CPU).kernel == "foreach"
    for bad in ("loop-sorted", "loop-grouped-compiled-compiled", "loop-grouped-fp32-bf16", "loop-grouped-fast"):
        with pytest.raises(SystemExit, match="pipeline-batching"):
            bench.Variant.parse(bad, CPU)
    with pytest.raises(SystemExit, match="needs a CUDA device"):
        bench.Variant.parse("loop-grouped-bf16", CPU)
    compiled = bench.Variant.parse("loop-grouped-fp32-fused-compiled", CPU)
    assert compiled.name == "loop-grouped-fp32-fused-compiled" and compiled.reference(trainer) == trainer
    assert bench.Variant.parse(compiled.name) == compiled  # saved figures read back as the same variant
    both = bench.Variant.parse("loop-grouped-noattndrop-compiled", CPU)
    assert both.name == "loop-grouped-fp32-fused-compiled-noattndrop" and bench.Variant.parse(both.name) == both
    assert both.label(CPU).endswith("torch.compile, no attention dropout")
    args = type("Args", (), dict(model_dir="m", data_dir="d", output_dir="o", device="cpu", epochs=1, batch_size=8,
                                 learning_rate=1e-4, max_length=32))
    cfg = bench.phase1_config(args, both, 42)
    assert cfg.torch_compile and cfg.attention_dropout == 0.0
    assert cfg.run_name == "bench_m_grouped_fp32_fused_compiled_noattndrop_seed42"
    assert bench.phase1_config(args, variant, 42).attention_dropout is None
    # Every seed runs the variants in another order; over as many seeds as variants, each runs once in each place.
    orders = [bench.rotated(["a", "b", "c"], index) for index in range(3)]
    assert orders[0] == ["a", "b", "c"] and all(sorted(order) == ["a", "b", "c"] for order in orders)
    assert all(sorted(order[place] for order in orders) == ["a", "b", "c"] for place in range(3))
    # A reference at another precision is the base at the variant's own.
    assert bench.Variant("loop", "grouped", "bf16").reference(trainer).precision == "bf16"


def test_summary_ratios_are_per_seed_means_against_the_reference(bench):
    trainer, loop, lonely = (bench.Variant("trainer", "random", "fp32", "fused"),
                             bench.Variant("loop", "grouped", "fp32", "fused"),
                             bench.Variant("loop", "random", "fp32", "foreach"))

    def figures(samples, f1, steady=None):
        return {"s/epoch": 100 / samples, "s/epoch after the first": steady, "graphs compiled": None,
                "samples/s": samples, "test accuracy": 0.8, "test macro-F1": f1, "peak memory MB": 1000.0}

    measured = {(trainer, 1): figures(10, 0.80), (trainer, 2): figures(20, 0.82),
                (loop, 1): figures(30, 0.81, steady=3.0), (loop, 2): figures(30, 0.80, steady=5.0),
                (lonely, 3): figures(5, 0.5)}  # a seed its reference never ran
    del measured[lonely, 3]["s/epoch after the first"]  # figures saved before the column existed
    rows = bench.summarize([trainer, loop, lonely], [1, 2, 3], measured, CPU)
    by_name = {row["pipeline"]: row for row in rows}
    reference = by_name["HF Trainer, random batches"]
    assert reference["samples/s vs reference"] == 1.0 and reference["macro-F1 − reference"] == "+0.0000"
    grouped = by_name["phase 1 loop, length-grouped batches"]
    assert grouped["seeds"] == 2 and grouped["samples/s"] == pytest.approx(30)
    assert grouped["samples/s vs reference"] == 2.25  # the mean of per-seed ratios (3.0, 1.5), not 30 / 15
    assert grouped["macro-F1 − reference"] == "-0.0050"  # ((0.81 - 0.80) + (0.80 - 0.82)) / 2
    assert grouped["test macro-F1"] == "0.8050 ± 0.0071"
    assert grouped["s/epoch after the first"] == 4.0 and grouped["graphs compiled"] is None
    unpaired = by_name["phase 1 loop, random batches, foreach AdamW"]
    assert unpaired["samples/s vs reference"] is None and unpaired["macro-F1 − reference"] is None
    assert unpaired["s/epoch after the first"] is None
    table = render_benchmark({"title": "t", "setup": {}, "rows": rows})
    assert "| phase 1 loop, random batches, foreach AdamW | 1 |" in table and "| – | – |" in table
    # Against another base, the ratios are to that base.
    against_loop = {row["pipeline"]: row for row in bench.summarize([loop, trainer], [1, 2], measured, CPU, loop)}
    assert against_loop["phase 1 loop, length-grouped batches"]["samples/s vs reference"] == 1.0
    assert against_loop["HF Trainer, random batches"]["samples/s vs reference"] == 0.5  # (10/30 + 20/30) / 2


def test_step_profile_accounts_for_the_whole_step_and_renders(tmp_path, phrasebank_dir, tiny_model_dir):
    from benchmarks import profile_step
    from common.records import read_json

    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "financial_phrasebank").symlink_to(phrasebank_dir)
    out = tmp_path / "runs"
    profile_step.main(["--data_root", str(tmp_path / "data"), "--phases", "1", "--model_dir", str(tiny_model_dir),
                       "--steps", "3", "--output_dir", str(out)])
    result = read_json(out / "benchmarks" / "profile_step.json")
    (row,) = result["rows"]
    parts = [row[f"{name} %"] for name in profile_step.PART_NAMES.values()]
    assert all(share >= 0 for share in parts) and sum(parts) == pytest.approx(100, abs=0.5)
    assert row["forward %"] > 0 and row["backward %"] > 0 and row["optimizer %"] > 0
    assert row["model GFLOP/s"] > 0 and 0 < row["MFU % (2048²)"] < 100
    assert 0 < row["validation % of epoch"] < 100
    folder = out / "benchmarks" / "profile_step"
    assert "aten::" in (folder / "phase1_ops.txt").read_text() and (folder / "step_shares.png").stat().st_size > 0
    assert "phase 1" in render_benchmark(result)


def test_training_flops_per_token_follow_the_parameter_count():
    from transformers import BertConfig, BertModel

    from benchmarks import profile_step

    model = BertModel(BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                 intermediate_size=64, max_position_embeddings=64))
    embeddings = sum(p.numel() for m in model.modules() if isinstance(m, torch.nn.Embedding) for p in m.parameters())
    non_embedding = sum(p.numel() for p in model.parameters()) - embeddings
    assert profile_step.text_flops_per_token(model, 10) == 6 * non_embedding + 12 * 2 * 32 * 10


def test_image_cache_benchmark_trains_the_same_model_either_way(tmp_path):
    from benchmarks import image_cache
    from common.records import read_json
    from common.random_encoders import write_tiny_bert
    from phase5_multimodal_financial_sentiment.make_synthetic import vocabulary

    encoder = write_tiny_bert(tmp_path / "encoder", vocabulary())
    image_cache.main(["--model_dir", str(encoder), "--n", "40", "--chart_size", "40", "--image_size", "32",
                      "--epochs", "1", "--seeds", "42", "--output_dir", str(tmp_path / "runs")])
    off, on = read_json(tmp_path / "runs" / "benchmarks" / "image_cache.json")["rows"]
    assert off["images"] == "decoded every epoch" and on["images"] == "decoded once per run (cache)"
    assert on["test macro-F1"] == off["test macro-F1"] and on["train samples/s"] > 0


def test_eval_benchmark_scores_the_shared_sentences_once_and_agrees_with_the_trainer(tmp_path, phrasebank_dir,
                                                                                     tiny_model_dir):
    from benchmarks import eval_vs_trainer
    from common.records import read_json

    eval_vs_trainer.main(["--data_dir", str(phrasebank_dir), "--model_dir", str(tiny_model_dir), "--repeats", "1",
                          "--max_length", "32", "--output_dir", str(tmp_path)])
    result = read_json(tmp_path / "benchmarks" / "eval_vs_trainer.json")
    pooled, unpooled, trainer = result["rows"]
    assert pooled["examples encoded and scored"] < unpooled["examples encoded and scored"] == \
        trainer["examples encoded and scored"]
    assert float(result["setup"]["largest macro-F1 difference"]) < 1e-6
    assert {k: v for k, v in pooled.items() if k.endswith("macro-F1")} == \
        {k: v for k, v in trainer.items() if k.endswith("macro-F1")}


def test_compile_shapes_times_each_length_against_eager(tmp_path, tiny_model_dir):
    from benchmarks import compile_shapes
    from common.records import read_json

    out = tmp_path / "runs"
    compile_shapes.main(["--model_dir", str(tiny_model_dir), "--lengths", "8,12", "--steps", "2", "--repeats", "1",
                         "--modes", "eager", "--output_dir", str(out)])
    result = read_json(out / "benchmarks" / "compile_shapes.json")
    (row,) = result["rows"]
    assert row["mode"] == "eager" and row["graphs compiled"] == 0
    assert row["s/step, length 8"] > 0 and row["s/step, length 12"] > 0
    assert row["speed-up vs eager, length 8"] == row["speed-up vs eager, length 12"] == 1.0
    with pytest.raises(SystemExit):
        compile_shapes.main(["--model_dir", str(tiny_model_dir), "--modes", "eager,fast", "--output_dir", str(out)])


def test_freeze_embeddings_benchmark_runs_end_to_end(tiny_multilingual_model_dir, tweets_dir, tmp_path):
    import json

    from safetensors.torch import load_file

    spec = importlib.util.spec_from_file_location("freeze_embeddings", SCRIPT.parent / "freeze_embeddings.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(["--model_dir", str(tiny_multilingual_model_dir), "--data_dir", str(tweets_dir), "--steps", "2",
                 "--languages", "english,french,german", "--repeats", "2", "--batch_size", "8", "--max_length", "16",
                 "--output_dir", str(tmp_path)])
    result = json.loads((tmp_path / "benchmarks" / "freeze_embeddings.json").read_text())
    trained, frozen = result["rows"]
    embedding = next(v for k, v in load_file(tiny_multilingual_model_dir / "model.safetensors").items()
                     if k.endswith("word_embeddings.weight")).numel()
    count = lambda row: int(row["trainable parameters"].replace(",", ""))  # noqa: E731
    assert count(trained) - count(frozen) == embedding
    # AdamW keeps two fp32 moments per trained parameter: the frozen mode holds the embedding's less
    saved = trained["gradients + optimizer state, MB"] - frozen["gradients + optimizer state, MB"]
    assert saved == pytest.approx(2 * 4 * embedding / 2**20, abs=1)
    assert trained["speed-up vs trained"] == 1.0 and frozen["s/step"] > 0
    assert "embeddings frozen" in render_benchmark(result)
