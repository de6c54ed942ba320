"""Run a phase 3 hyperparameter study, then plot it and confirm its best configuration.

Usage:
    python -m phase3_hp_tuning_xlm_roberta.study --space phase3_hp_tuning_xlm_roberta/studies/learning_rate.yaml
    python -m phase3_hp_tuning_xlm_roberta.study --space .../optimizer.yaml --confirm_seeds 1,2,3 --workers 2
    python -m phase3_hp_tuning_xlm_roberta.study --space .../joint_tpe.yaml \
        --storage postgresql://user:password@db-host/studies      # the same command on every machine
    python -m phase3_hp_tuning_xlm_roberta.study --help

Steps: (1) the sweep (common/sweep.py; objective validation macro-F1, pruning, resumable,
any number of workers sharing the study); (2) into runs/phase3_hp_tuning_xlm_roberta/
sweep_<study>/: trials.csv, best_preset.json (a preset phase 2 and phase 3 can run), the
plots and the importances; (3) the best configuration and the default one (the study's
fixed values without its parameters) re-run with every --confirm_seeds seed, scoring the
test split, and confirmation.json: mean ± std of each, and whether the gain beats seed noise.
"""
from __future__ import annotations

from typing import Optional, Sequence

from common.cli import exit_on_bad_input
from common.records import write_json
from common.tables import NON_EXPERIMENT_KEYS
from common.sweep_workers import open_study, trials_frame
from common.sweep import best_trial, build_parser, parse_sweep_cli, rerun, run_sweep, seed_list
from phase3_hp_tuning_xlm_roberta.confirm import compare, summarize_seeds
from phase3_hp_tuning_xlm_roberta.config import PHASE
from phase3_hp_tuning_xlm_roberta.plots import draw_study_plots


def best_preset(base: dict, params: dict) -> dict:
    """The best configuration as a preset: every experiment key, none of this machine's paths."""
    return {k: v for k, v in {**base, **params}.items() if k not in NON_EXPERIMENT_KEYS | {"evaluate_test"}}


def run_study(argv: Optional[Sequence[str]] = None) -> Optional[dict]:
    parser = build_parser()
    parser.add_argument("--confirm_seeds", default="42,43,44", help="Seeds of the best and default "
                        "configurations' test-split re-runs (comma-separated; at least 3 for a mean ± std).")
    parser.add_argument("--no_confirm", action="store_true", help="Only run the study and draw its plots.")
    parsed = parse_sweep_cli(PHASE, argv, __doc__.split("\n\n")[0], parser)
    if parsed is None:
        return None
    args, spec = parsed
    seeds = seed_list(args.confirm_seeds)
    run_sweep(spec, args.workers, [d for d in args.devices.split(",") if d], rerun=False)
    main, config_cls, space = spec.load()
    study = open_study(spec, space)
    directory = spec.directory(space)
    frame = trials_frame(study, space)  # the sweep has written it to trials.csv
    best = best_trial(study)
    report = {"study": study.study_name, "space": space.source, "metric": space.metric,
              **draw_study_plots(study, frame, space.metric, directory)}
    if best is None:
        print("no completed trial: nothing to confirm")
        write_json(directory / "study_report.json", report)
        return report
    write_json(directory / "best_preset.json", best_preset(spec.base, best.params))
    report["best"] = {"number": best.number, "value": best.value, "params": best.params}
    print(f"best configuration: {best.params} -> {directory / 'best_preset.json'}")
    if not args.no_confirm:
        best_runs = rerun(spec, main, config_cls, space, best.params, "best", seeds, {"best_trial": best.number})
        default_runs = rerun(spec, main, config_cls, space, {}, "default", seeds, {})
        confirmation = {"best": summarize_seeds(best_runs), "default": summarize_seeds(default_runs)}
        confirmation["comparison"] = compare(confirmation["best"], confirmation["default"])
        write_json(directory / "confirmation.json", confirmation)
        report["confirmation"] = confirmation
        c = confirmation["comparison"]
        best, default = confirmation["best"]["test_f1_macro"], confirmation["default"]["test_f1_macro"]
        print(f"test macro-F1 over seeds {seeds}: best {best['mean']:.4f} ± {best['std']:.4f}, default "
              f"{default['mean']:.4f} ± {default['std']:.4f}; "
              f"difference {c['difference']:+.4f} (standard error {c['standard_error']:.4f}): "
              f"{'beyond' if c['gain_exceeds_two_standard_errors'] else 'within'} seed noise")
    write_json(directory / "study_report.json", report)
    return report


if __name__ == "__main__":
    exit_on_bad_input(run_study)
