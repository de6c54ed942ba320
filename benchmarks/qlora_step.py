"""QLoRA training steps on a decoder LLM: tokens per second and peak memory of the repository's
own loading path (common/llm.py: 4-bit NF4 weights with double quantisation and bf16 compute,
peft's k-bit preparation, gradient checkpointing, LoRA on the attention projections).

Usage:
    python benchmarks/qlora_step.py --device cuda                      # a random Llama-3.2-1B-shaped model
    python benchmarks/qlora_step.py --device cuda --model_dir DIR      # any causal LM folder
    python benchmarks/qlora_step.py --device cpu --quantization none --model_dir /path/to/smollm2-135m-instruct

Without `--model_dir` the model is Llama-3.2-1B's shape (16 layers, 2048 wide, 32 query and
8 key/value heads, 8192 FFN, 128,256-token vocabulary: 1.24B parameters) with random bf16
weights, written once to `<out>/work/`: its speed and memory are the real model's, its loss
means nothing. Steps run on random token ids (`--batch_size` x `--seq_len`), after
`--warmup` untimed steps. Writes `<out>/benchmarks/qlora_step.json`.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from common.records import write_json  # noqa: E402

LLAMA_32_1B = dict(hidden_size=2048, intermediate_size=8192, num_hidden_layers=16, num_attention_heads=32,
                   num_key_value_heads=8, vocab_size=128256, max_position_embeddings=4096, rope_theta=500000.0,
                   tie_word_embeddings=True, bos_token_id=128000, eos_token_id=128001)


def write_random_llama(directory: Path) -> Path:
    """A Llama of Llama-3.2-1B's shape with random bf16 weights (written once)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    if not (directory / "config.json").exists():
        torch.manual_seed(0)
        LlamaForCausalLM(LlamaConfig(**LLAMA_32_1B)).to(torch.bfloat16).save_pretrained(directory)
    return directory


def main() -> None:
    from common.llm import load_causal_lm
    from common.lora import apply_lora
    from phase1_financial_phrasebank.config import Phase1Config

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model_dir", default=None)
    parser.add_argument("--out", default="runs/qlora_step")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--quantization", default="4bit", choices=("none", "8bit", "4bit"))
    parser.add_argument("--batch_size", type=int, default=4)
    parser.add_argument("--seq_len", type=int, default=256)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    args = parser.parse_args()
    device = torch.device(args.device)
    out = Path(args.out).resolve()
    model_dir = Path(args.model_dir) if args.model_dir else write_random_llama(out / "work" / "llama-3.2-1b-shape")
    cfg = Phase1Config(model_name_or_path=str(model_dir), lora=True, lora_r=16, lora_alpha=32, lora_dropout=0.05,
                       quantization=args.quantization, gradient_checkpointing=True, device=args.device,
                       model_dtype="bfloat16" if device.type == "cuda" else "float32")
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    model = load_causal_lm(cfg)
    if args.quantization == "none":
        model = model.to(device)
    model = apply_lora(model, cfg.lora_r, cfg.lora_alpha, cfg.lora_dropout, modules_to_save=[])
    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    vocab = model.config.vocab_size
    generator = torch.Generator().manual_seed(0)
    seconds, losses = [], []
    for step in range(args.warmup + args.steps):
        ids = torch.randint(0, vocab, (args.batch_size, args.seq_len), generator=generator).to(device)
        started = time.perf_counter()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        if step >= args.warmup:
            seconds.append(time.perf_counter() - started)
            losses.append(loss.item())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    row = {"model": "random Llama-3.2-1B shape" if not args.model_dir else str(model_dir),
           "quantization": args.quantization, "device": torch.cuda.get_device_name(device)
           if device.type == "cuda" else "CPU", "batch x seq": f"{args.batch_size} x {args.seq_len}",
           "s/step": round(sum(seconds) / len(seconds), 3),
           "tokens/s": round(args.batch_size * args.seq_len * len(seconds) / sum(seconds), 1),
           "peak memory MB": round(torch.cuda.max_memory_allocated(device) / 2**20, 1) if device.type == "cuda"
           else None, "trainable share": round(trainable / total, 5), "last loss": round(losses[-1], 4)}
    write_json(out / "benchmarks" / "qlora_step.json", {"rows": [row]})
    print(row)


if __name__ == "__main__":
    main()
