"""Prompting baselines: a decoder LLM asked for each example's label with no training,
zero-shot or k-shot, scored as instruction mode scores (each label's answer by its
log-likelihood after the prompt, common/llm.py), and written as a run directory that the
tables show as a row of its own (beside common/baseline.py's off-the-shelf classifiers).

Usage:
    python -m common.prompting --phase 1 --model HuggingFaceTB/SmolLM2-135M-Instruct --shots 0
    python -m common.prompting --phase 1 --model DIR --shots 5 --data_dir ../shared/data/financial_phrasebank
    python -m common.prompting --phase 1 --model DIR --shots 5 --chat_template true --seed 43

The k solved examples come from the train split, drawn with `--seed` (every label in turn),
never from validation or test; the same ones precede every question. Any other argument
is a key of the phase's config (its data keys, prompt_template, max_length, ...), so the
scores are of exactly the split a fine-tuned run of the phase reads. Writes
`runs/<phase>/prompt_<model>_<k>shot[_seed<seed>]/` (config, env, metrics with intervals and
warnings, predictions, confusion matrix, the prompt in metrics.json); nothing is trained.
"""
from __future__ import annotations

import functools
from pathlib import Path
from typing import Optional, Sequence

from common.baseline import finish_untrained, text_phase, untrained_parser
from common.cli import exit_on_bad_input
from common.errors import ConfigError


def run_prompting(phase_name: str, model_id: str, shots: int, config_args: Sequence[str],
                  run_name: Optional[str] = None) -> Path:
    """Score `model_id` prompted with `shots` solved examples on the phase's splits; the run directory."""
    from common.evaluation import Evaluator
    from common.llm import build_answer_scorer, check_prompting, describe_prompt, prompt_format, prompt_loader_factory
    from common.run_lifecycle import open_run

    phase = text_phase(phase_name)
    if "llm_format" not in getattr(phase.runner.config_cls, "__dataclass_fields__", {}):
        raise ConfigError(f"{phase.name}'s config has no prompt keys (llm_format, prompt_template, few_shot); "
                          "prompting baselines run on phase 1")
    if shots < 0:
        raise ConfigError(f"--shots must be 0 or more, got {shots}")
    name = run_name or f"prompt_{Path(model_id.rstrip('/')).name}_{shots}shot"
    cfg, provenance = phase.runner.parse([*config_args, "--model_name_or_path", model_id, "--run_name", name,
                                          "--llm_format", "instruction", "--few_shot", str(shots),
                                          "--report_to", "none"])  # nothing trains: no curves to log
    run = open_run(cfg, phase.name, phase.runner.load_splits, {**provenance, "baseline": model_id},
                   check_tokenizer=functools.partial(check_prompting, cfg))
    prompt = prompt_format(cfg, run.splits.label_names, run.splits.train)
    model = build_answer_scorer(cfg, run.tokenizer, run.splits.label_names).to(run.device).eval()
    cut: list = []
    evaluator = Evaluator(run.splits, run.tokenizer, cfg, run.device, run.amp_dtype,
                          make_loader=prompt_loader_factory(run.tokenizer, prompt, cfg, cut))
    return finish_untrained(cfg, run, model, evaluator, phase.name, "text-generation",
                            baseline={"model": model_id, "kind": f"prompting, {shots}-shot"},
                            prompt=describe_prompt(prompt, run.tokenizer, cut))


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = untrained_parser(__doc__, "1", "a decoder LLM", "prompt_<model>_<k>shot")
    parser.add_argument("--shots", type=int, default=0, help="Solved train examples before each question (k); "
                        "--seed draws them, --prompt_template and --chat_template shape the prompt.")
    args, config_args = parser.parse_known_args(argv)
    exit_on_bad_input(lambda: print("prompting baseline written to "
                                    + str(run_prompting(args.phase, args.model, args.shots, config_args,
                                                        args.run_name))))


if __name__ == "__main__":
    main()
