#!/usr/bin/env bash
# The GPU check: the GPU-marked tests, the phase 1 benchmark (fp32 vs bf16, fused vs foreach
# AdamW, 1 epoch), phase 4's train + explain and QLoRA steps on a Llama-3.2-1B-shaped decoder
# (needs bitsandbytes) on one CUDA GPU, in a few minutes; figures in
# $OUT_DIR/benchmarks/gpu_check.json (rendered by `python -m common.report --runs $OUT_DIR`).
# Optional: DATA_DIR (a folder holding financial_phrasebank/), MODEL_DIR, OUT_DIR, DEVICE.
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false MPLBACKEND=Agg
python3 benchmarks/gpu_check.py --out "${OUT_DIR:-runs/gpu_check}" --device "${DEVICE:-cuda}" \
    ${DATA_DIR:+--data_dir "$DATA_DIR"} ${MODEL_DIR:+--model_dir "$MODEL_DIR"}
