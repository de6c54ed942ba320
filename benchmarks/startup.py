"""Seconds from starting each command to its first line of output (`--help` of every entry
point, the plan of `reproduce --check`), each run `--repeats` times in a fresh interpreter;
the median is printed. A command that imports torch, transformers and peft before it
parses its arguments spends seconds here; one that imports them where they are used
answers `--help` in well under a second.

Usage:
    python benchmarks/startup.py
    python benchmarks/startup.py --repeats 5 --repo /path/to/another/checkout   # the same list, another tree

Run it on a machine with nothing else running (the times are wall-clock); `--repo` times
another checkout (an older commit, say) in the same call, for a before/after ratio.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = [
    ["phase1_financial_phrasebank.train", "--help"],
    ["phase1_financial_phrasebank.fiqa.train_targets", "--help"],
    ["phase2_multilingual_sentiment.train", "--help"],
    ["phase2_multilingual_sentiment.sweep", "--help"],
    ["phase3_hp_tuning_xlm_roberta.train", "--help"],
    ["phase3_hp_tuning_xlm_roberta.study", "--help"],
    ["phase4_medical_text_xai.train", "--help"],
    ["phase4_medical_text_xai.explain", "--help"],
    ["phase5_multimodal_financial_sentiment.train", "--help"],
    ["phase5_multimodal_financial_sentiment.predict", "--help"],
    ["phase5_multimodal_financial_sentiment.make_synthetic", "--help"],
    ["common.reproduce", "--help"],
    ["common.reproduce", "--check", "--cache_dir", "{empty}"],
    ["common.report", "--help"],
    ["common.baseline", "--help"],
    ["common.compare", "--help"],
    ["common.publish", "--help"],
    ["common.offline_models", "--help"],
]


def first_output_seconds(repo: Path, argv: list[str]) -> float:
    """Wall seconds until the command's first byte of output (stdout or stderr)."""
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", *argv], cwd=repo, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT)
    process.stdout.read(1)
    seconds = time.perf_counter() - started
    process.stdout.read()
    process.wait()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--repo", action="append", default=[], help="Another checkout to time beside this one.")
    args = parser.parse_args()
    repos = [ROOT, *map(Path, args.repo)]
    with tempfile.TemporaryDirectory() as empty:
        print(f"{'command':62s}" + "".join(f"{repo.name[:14]:>16s}" for repo in repos))
        for command in COMMANDS:
            argv = [empty if part == "{empty}" else part for part in command]
            medians = [statistics.median(first_output_seconds(repo, argv) for _ in range(args.repeats))
                       for repo in repos]
            label = " ".join(command).replace("{empty}", "<empty cache>")
            print(f"{label:62s}" + "".join(f"{m:15.2f}s" for m in medians), flush=True)


if __name__ == "__main__":
    main()
