"""Is run A better than run B? A paired comparison on the same test examples.

Usage:
    python -m common.compare runs/phase1_financial_phrasebank/a_seed42 runs/phase1_financial_phrasebank/b_seed42
    python -m common.compare RUN_A RUN_B --metric accuracy --resamples 20000

Reads both runs' predictions.csv, refuses runs whose test examples differ (another split,
another data set, other sample limits: the first differing row is named), and prints the
difference A - B of the metric with its paired bootstrap interval and the p-value of a
paired permutation test (common/uncertainty.py). `--cluster_column COLUMN` (a column of
predictions.csv, e.g. phase 5's `cluster`, the trading day) resamples and swaps whole
clusters instead of examples, for rows that move together. Writes nothing.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Optional, Sequence

import pandas as pd

from common.cli import exit_on_bad_input
from common.errors import DataError, describe
from common.records import read_json
from common.uncertainty import compare_clustered, compare_predictions

IDENTITY = ("text", "text_pair", "image", "label")  # the columns that name a test example, where present


def read_predictions(run_dir: Path) -> pd.DataFrame:
    path = Path(run_dir) / "predictions.csv"
    if not path.is_file():
        raise DataError(f"{run_dir}: no predictions.csv (a finished run scored on its test split has one)")
    try:
        frame = pd.read_csv(path, keep_default_na=False)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataError(f"{path} cannot be read as a table ({describe(exc)})") from None
    missing = [column for column in ("label", "prediction") if column not in frame.columns]
    if missing or frame.empty:
        raise DataError(f"{path}: " + (f"no {' or '.join(repr(c) for c in missing)} column (it has "
                                       f"{', '.join(map(str, frame.columns)) or 'none'})" if missing else "no rows"))
    return frame


def check_same_examples(a: pd.DataFrame, b: pd.DataFrame, name_a: str, name_b: str) -> None:
    if len(a) != len(b):
        raise DataError(f"{name_a} has {len(a)} test examples and {name_b} {len(b)}: they were not scored on "
                        "the same examples, so a paired comparison is meaningless")
    columns = [c for c in IDENTITY if c in a.columns or c in b.columns]
    for column in columns:
        if column not in a.columns or column not in b.columns:
            raise DataError(f"only one of {name_a} and {name_b} has a {column!r} column: different data")
        differ = (a[column].astype(str) != b[column].astype(str)).to_numpy().nonzero()[0]
        if len(differ):
            row = differ[0]
            raise DataError(f"test example {row + 1} differs ({column}: {a[column][row]!r} in {name_a}, "
                            f"{b[column][row]!r} in {name_b}): the runs were not scored on the same examples")


def label_names(run_dirs: Sequence[Path], frames: Sequence[pd.DataFrame]) -> list[str]:
    """The runs' label names (metrics.json), else those seen in their predictions."""
    recorded = [read_json(Path(d) / "metrics.json").get("labels") for d in run_dirs
                if (Path(d) / "metrics.json").is_file()]
    if recorded and all(r == recorded[0] for r in recorded) and recorded[0]:
        return list(recorded[0])
    return sorted({str(v) for f in frames for c in ("label", "prediction") for v in f[c]})


def compare_runs(run_a: Path, run_b: Path, metric: str = "f1_macro", n_resamples: int = 10000,
                 seed: int = 0, cluster_column: Optional[str] = None) -> dict:
    a, b = read_predictions(run_a), read_predictions(run_b)
    check_same_examples(a, b, str(run_a), str(run_b))
    names = label_names([run_a, run_b], [a, b])
    index = {name: i for i, name in enumerate(names)}
    unknown = sorted({str(v) for f in (a, b) for c in ("label", "prediction") for v in f[c]} - set(index))
    if unknown:
        raise DataError(f"labels {', '.join(unknown)} are not among the runs' labels {', '.join(names)}")

    def codes(column: pd.Series) -> list[int]:
        return [index[str(v)] for v in column]

    if metric == "mcc" and len(names) != 2:
        raise DataError(f"--metric mcc is the two-class measure; these runs have {len(names)} labels "
                        f"({', '.join(names)})")
    if cluster_column is not None:
        if cluster_column not in a.columns or cluster_column not in b.columns:
            raise DataError(f"--cluster_column {cluster_column!r}: not a column of both runs' predictions.csv "
                            f"(columns: {', '.join(map(str, a.columns))})")
        if (a[cluster_column].astype(str) != b[cluster_column].astype(str)).any():
            raise DataError(f"the runs put their test examples in different {cluster_column!r} clusters")
        result = compare_clustered(codes(a["label"]), codes(a["prediction"]), codes(b["prediction"]),
                                   a[cluster_column].astype(str).tolist(), len(names), metric=metric,
                                   n_resamples=n_resamples, seed=seed)
    else:
        result = compare_predictions(codes(a["label"]), codes(a["prediction"]), codes(b["prediction"]),
                                     len(names), metric=metric, n_resamples=n_resamples, seed=seed)
    return {"run_a": str(run_a), "run_b": str(run_b), **result}


def compare_seeds(root: Path, stem_a: str, stem_b: str, metric: str = "f1_macro",
                  cluster_column: Optional[str] = None) -> list[dict]:
    """`compare_runs` (scoring `metric`, resampling `cluster_column` where given) of
    `<stem_a>_seed<N>` against `<stem_b>_seed<N>` under `root`, for every seed N both have
    finished (with predictions), each with that seed as `run_seed`."""
    results = []
    for run_a in sorted(Path(root).glob(f"{stem_a}_seed*")):
        seed = run_a.name.rsplit("_seed", 1)[1]
        run_b = Path(root) / f"{stem_b}_seed{seed}"
        if (run_a / "predictions.csv").exists() and (run_b / "predictions.csv").exists():
            results.append({**compare_runs(run_a, run_b, metric=metric, cluster_column=cluster_column),
                            "run_seed": seed})
    return results


def paired_row(title: str, result: dict) -> list[str]:
    """One comparison as a table row: title, seed, A, B, A - B, its 95% interval, p."""
    low, high = result["interval"]
    return [title, result["run_seed"], f"{result['a']:.4f}", f"{result['b']:.4f}", f"{result['difference']:+.4f}",
            f"[{low:+.4f}, {high:+.4f}]", f"{result['p_value']:.4f}"]


PAIRED_HEADERS = ["comparison (A vs B)", "seed", "A", "B", "A - B", "95% interval", "p"]


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(allow_abbrev=False, description="Paired comparison of two runs' test scores.")
    parser.add_argument("run_a")
    parser.add_argument("run_b")
    parser.add_argument("--metric", default="f1_macro", choices=("f1_macro", "accuracy", "mcc"),
                        help="mcc: two-class runs only.")
    parser.add_argument("--cluster_column", default=None, help="A predictions.csv column of clusters of rows that "
                        "move together (e.g. cluster, phase 5's trading day): resample and swap whole clusters.")
    parser.add_argument("--resamples", type=int, default=10000, help="Bootstrap resamples and permutations.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="Print the result as JSON.")
    args = parser.parse_args(argv)

    def entry() -> None:
        result = compare_runs(Path(args.run_a), Path(args.run_b), args.metric, args.resamples, args.seed,
                              args.cluster_column)
        if args.json:
            print(json.dumps(result, indent=1))
            return
        low, high = result["interval"]
        over = f" over {result['clusters']} {args.cluster_column} clusters" if "clusters" in result else ""
        print(f"{args.metric} on {result['n']} shared test examples: A {result['a']:.4f}, B {result['b']:.4f}; "
              f"A - B = {result['difference']:+.4f}, {result['level']:.0%} interval [{low:+.4f}, {high:+.4f}] "
              f"(paired bootstrap{over}), p = {result['p_value']:.4f} (paired permutation test{over}, "
              f"{result['resamples']} resamples)")

    exit_on_bad_input(entry)


if __name__ == "__main__":
    main()
