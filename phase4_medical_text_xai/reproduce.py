"""Phase 4 steps of `python -m common.reproduce`: RoBERTa on the medical abstracts, then
its explanations and their faithfulness; quick: a tiny RoBERTa on synthetic abstracts,
three explained examples."""
from __future__ import annotations

from common.phases import Runner
from common.reproduce import Context, Step, asset_step, train_step
from common.random_encoders import write_tiny_roberta
from phase4_medical_text_xai.config import PHASE
from phase4_medical_text_xai.synthetic import synthetic_abstracts, write_abstracts, write_labels


def explain_step(ctx: Context, run_name: str, n: int, **settings) -> Step:
    """Explain the run's first `n` test abstracts with every method (settings: see explain.ExplainSettings)."""
    run_dir = ctx.runs / PHASE / run_name

    def explain() -> None:
        from phase4_medical_text_xai.explain import METHODS, explain_run  # captum and torch: when the step runs

        explain_run(run_dir, n, METHODS, device=ctx.device, **settings)

    return Step(PHASE, f"explain {run_name}", (run_dir / "explanations" / "index.html").exists, explain)


def steps(ctx: Context, runner: Runner) -> list[Step]:
    runs = [train_step(runner, f"roberta_seed{seed}", ["--preset", "roberta", "--seed", str(seed),
                                                      *ctx.data_args("medical_abstracts")], ctx) for seed in ctx.seeds]
    return runs + [explain_step(ctx, f"roberta_seed{ctx.seeds[0]}", 50)]


def quick_steps(ctx: Context, runner: Runner) -> list[Step]:
    data, model = ctx.assets / "medical", ctx.assets / "tiny_roberta_medical"
    rows = synthetic_abstracts(150)

    def write_data() -> None:
        write_abstracts(data / "medical_tc_test.csv", rows)
        write_labels(data)

    tiny = ["--model_name_or_path", str(model), "--data_dir", str(data), "--epochs", "2", "--batch_size", "16",
            "--max_length", "48", "--learning_rate", "1e-3", "--progress", "false"]
    return [asset_step(PHASE, "synthetic abstracts", data / "medical_tc_labels.csv", write_data),
            asset_step(PHASE, "tiny RoBERTa", model / "config.json",
                       lambda: write_tiny_roberta(model, [text for _, text in rows])),
            *[train_step(runner, f"roberta_seed{seed}", ["--preset", "roberta", "--seed", str(seed), *tiny], ctx)
              for seed in ctx.seeds],
            explain_step(ctx, f"roberta_seed{ctx.seeds[0]}", 3, ig_steps=8)]
