"""The arithmetic of the phase 1 vs Trainer benchmark: variant names, and the ratios and
differences it reports against its reference (computed per seed, then averaged)."""
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
    assert variant.reference == bench.Variant("trainer", "random", "fp32", "fused")
    assert bench.Variant.parse("Trainer-Random-FP32-foreach", CPU).kernel == "foreach"
    with pytest.raises(SystemExit, match="pipeline-batching"):
        bench.Variant.parse("loop-sorted", CPU)
    with pytest.raises(SystemExit, match="needs a CUDA device"):
        bench.Variant.parse("loop-grouped-bf16", CPU)


def test_summary_ratios_are_per_seed_means_against_the_reference(bench):
    trainer, loop, lonely = (bench.Variant("trainer", "random", "fp32", "fused"),
                             bench.Variant("loop", "grouped", "fp32", "fused"),
                             bench.Variant("loop", "random", "fp32", "foreach"))

    def figures(samples, f1):
        return {"s/epoch": 100 / samples, "samples/s": samples, "test accuracy": 0.8, "test macro-F1": f1,
                "peak memory MB": 1000.0}

    measured = {(trainer, 1): figures(10, 0.80), (trainer, 2): figures(20, 0.82),
                (loop, 1): figures(30, 0.81), (loop, 2): figures(30, 0.80),
                (lonely, 3): figures(5, 0.5)}  # a seed its reference never ran
    rows = bench.summarize([trainer, loop, lonely], [1, 2, 3], measured, CPU)
    by_name = {row["pipeline"]: row for row in rows}
    reference = by_name["HF Trainer, random batches"]
    assert reference["samples/s vs Trainer"] == 1.0 and reference["macro-F1 − Trainer"] == "+0.0000"
    grouped = by_name["phase 1 loop, length-grouped batches"]
    assert grouped["seeds"] == 2 and grouped["samples/s"] == pytest.approx(30)
    assert grouped["samples/s vs Trainer"] == 2.25  # the mean of per-seed ratios (3.0, 1.5), not 30 / 15
    assert grouped["macro-F1 − Trainer"] == "-0.0050"  # ((0.81 - 0.80) + (0.80 - 0.82)) / 2
    assert grouped["test macro-F1"] == "0.8050 ± 0.0071"
    unpaired = by_name["phase 1 loop, random batches, foreach AdamW"]
    assert unpaired["samples/s vs Trainer"] is None and unpaired["macro-F1 − Trainer"] is None
    table = render_benchmark({"title": "t", "setup": {}, "rows": rows})
    assert "| phase 1 loop, random batches, foreach AdamW | 1 |" in table and "| – | – |" in table
