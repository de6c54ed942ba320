"""What Integrated Gradients costs a phase 4 explanation, and how close it comes to
completeness, for several integration settings, on one trained run's test abstracts.

Usage:
    python benchmarks/ig_cost.py --run runs/phase4_medical_text_xai/roberta_seed42
    python benchmarks/ig_cost.py --run <run dir> --n 20 --settings 50x16,50x8,24x16,32x16@0.01 --device cpu

A setting is `STEPSxBATCH[-METHOD][@TOLERANCE]`: captum's `n_steps`, its
`internal_batch_size` (path points per forward and backward pass), its integration rule
(`gausslegendre`, the default, or `riemann_trapezoid`, ...), and with a tolerance the
explain default's doubling of the steps until |delta| <= tolerance x |f(x) - f(baseline)|
(`adaptive_integrated_gradients`). Each abstract is read as the run read it (the
first window: IG's cost per window is what a setting changes) and explained for its
predicted class by every setting in turn, so that all settings meet the same examples and
the same load on the machine. Reported per setting: seconds per example, and the
completeness gap captum reports, |delta| = |sum of attributions - (f(x) - f(baseline))|,
as mean and max over the examples, beside the logit difference it is a share of.
Writes `<output_dir>/benchmarks/ig_cost.json`, which `python -m common.report` renders.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from tqdm.auto import tqdm  # noqa: E402

from common.device import resolve_device  # noqa: E402
from common.records import write_json  # noqa: E402
from phase4_medical_text_xai.explain import how_the_run_read, load_run, window_batch  # noqa: E402
from phase4_medical_text_xai.integrated_gradients import adaptive_integrated_gradients  # noqa: E402
from phase4_medical_text_xai.long_inputs import read_documents, special_frame, window_input_ids  # noqa: E402

DEFAULT_SETTINGS = "50x16,50x8,50x32,32x16,24x16,16x16,24x16-riemann_trapezoid,16x16@0.01,24x16@0.01,32x16@0.01"


def parse_setting(text: str) -> tuple[int, int, str, float]:
    head, _, tolerance = text.strip().partition("@")
    size, _, method = head.partition("-")
    try:
        steps, batch = (int(part) for part in size.lower().split("x"))
        tolerance = float(tolerance or 0)
    except ValueError:
        raise SystemExit(f"error: setting {text!r} is not STEPSxBATCH[-METHOD][@TOLERANCE], e.g. 50x16, "
                         "24x16-riemann_trapezoid or 32x16@0.01") from None
    return steps, batch, method or "gausslegendre", tolerance


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", required=True, help="A finished phase 4 run directory.")
    parser.add_argument("--n", type=int, default=10, help="Test abstracts explained by every setting.")
    parser.add_argument("--settings", default=DEFAULT_SETTINGS, help="Comma-separated STEPSxBATCH[-METHOD].")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--output_dir", default="runs")
    args = parser.parse_args(argv)
    settings = [parse_setting(text) for text in args.settings.split(",") if text.strip()]
    device = resolve_device(args.device)
    run_dir = Path(args.run)
    model, tokenizer, predictions, config = load_run(run_dir, device)
    reading = how_the_run_read(config)
    frame = special_frame(tokenizer)
    seconds = {s: [] for s in settings}
    deltas = {s: [] for s in settings}
    steps_used = {s: [] for s in settings}
    outside = {s: 0 for s in settings}
    gaps = []
    for row in tqdm(list(predictions.head(args.n).itertuples()), desc="examples"):
        document = read_documents(tokenizer, [row.text], reading)[0]
        batch = window_batch(window_input_ids(frame, document, document.windows[0])[0], device)
        with torch.no_grad():
            target = int(model(**batch).logits[0].argmax())
        for setting in settings:
            steps, size, method, tolerance = setting
            started = time.perf_counter()
            _, check = adaptive_integrated_gradients(model, tokenizer, batch, target, steps, size, method,
                                                     tolerance=tolerance)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            seconds[setting].append(time.perf_counter() - started)
            deltas[setting].append(abs(check["delta"]))
            steps_used[setting].append(check["steps"])
            outside[setting] += not check["within_tolerance"]
        gaps.append(abs(check["logit"] - check["baseline_logit"]))
    reference = settings[0]
    rows = []
    for setting in settings:
        steps, size, method, tolerance = setting
        rows.append({"steps": steps if not tolerance else f"from {steps}, doubled to |δ| ≤ {tolerance:g} x gap",
                     "batch": size, "rule": method, "mean steps": round(statistics.mean(steps_used[setting]), 1),
                     "s / example": round(statistics.mean(seconds[setting]), 3),
                     "speed-up vs first": round(statistics.mean(seconds[reference]) /
                                                statistics.mean(seconds[setting]), 2),
                     "mean |delta|": float(f"{statistics.mean(deltas[setting]):.3g}"),
                     "max |delta|": float(f"{max(deltas[setting]):.3g}"),
                     "outside tolerance": outside[setting] if tolerance else "–"})
        print(rows[-1])
    name = config.get("model_name_or_path", "?")
    write_json(Path(args.output_dir) / "benchmarks" / "ig_cost.json", {
        "title": "Integrated Gradients: seconds per explained abstract and completeness gap |delta| per setting",
        "setup": {"run": run_dir.name, "model": Path(str(name)).parent.name if Path(str(name)).name == "model"
                  else name, "device": str(device) if device.type == "cpu" else torch.cuda.get_device_name(device),
                  "threads": torch.get_num_threads(), "examples": len(gaps), "max length": reading.max_length,
                  "mean |f(x) - f(baseline)|": round(statistics.mean(gaps), 3), "date": time.strftime("%Y-%m-%d")},
        "rows": rows})


if __name__ == "__main__":
    main()
