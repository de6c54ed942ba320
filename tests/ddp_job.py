"""What the data-parallel tests run under `torchrun --standalone --nproc_per_node N`:
`python -m torch.distributed.run ... tests/ddp_job.py JOBS.json`, a JSON list of jobs run
one after the other in one launch (each start of torch and transformers costs seconds).

A job is {"kind": ..., ...}:
- "phase1" / "phase5": that phase's `main` with `config`; with "crash_after_epoch" every
  rank dies (os._exit) once that epoch's last checkpoint is written, as a killed job;
  with "fail_on_rank" that rank raises in its first epoch;
- "prune": phase 1 with an `on_epoch_end` that rank 0 makes raise, as a sweep's pruner;
  each rank writes what it met to `report`;
- "eval_order": `training_steps.predict` over N examples for each N of `sizes`, written by rank 0
  to `report`.
With "audit" (a directory outside the runs), each rank records every file it creates,
writes, renames or removes under `watch`, into audit/rank<r>.json.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

WRITE_EVENTS = {"os.mkdir", "os.rename", "os.remove", "os.rmdir", "shutil.rmtree", "os.replace"}


def audit_writes(watch: Path, log: list) -> None:
    """Note every write under `watch` this process makes through Python (sys.addaudithook)."""
    prefix = str(watch.resolve())

    def hook(event: str, args: tuple) -> None:
        if event == "open" and args and isinstance(args[0], (str, os.PathLike)):
            mode, flags = args[1], args[2] if len(args) > 2 else 0
            writes = (mode and any(c in str(mode) for c in "wax+")) or (flags & (os.O_WRONLY | os.O_RDWR))
            if writes and os.path.abspath(args[0]).startswith(prefix):
                log.append(f"open {args[0]}")
        elif event in WRITE_EVENTS and args and isinstance(args[0], (str, os.PathLike)):
            if os.path.abspath(args[0]).startswith(prefix):
                log.append(f"{event} {args[0]}")

    sys.addaudithook(hook)


def run_phase(job: dict) -> None:
    import common.fit as fit_module
    from common.distributed import barrier, launched_world

    if "crash_after_epoch" in job:
        real_save = fit_module.save_checkpoint

        def save_then_die(directory, *args, **kwargs):
            real_save(directory, *args, **kwargs)
            state = args[2] if len(args) > 2 else kwargs.get("training_state")
            if directory.name == "last" and state and state["epoch"] == job["crash_after_epoch"]:
                barrier()  # rank 0 has written the checkpoint: now every rank dies at once
                os._exit(17)

        fit_module.save_checkpoint = save_then_die
    rank = launched_world().rank  # the process group is joined later, by the phase's open_run
    if "fail_on_rank" in job and rank == job["fail_on_rank"]:
        def fail(*args, **kwargs):
            raise RuntimeError(f"injected failure on rank {rank}")

        fit_module.train_one_epoch = fail
    if job["kind"] == "phase5":
        from phase5_multimodal_financial_sentiment.config import Phase5Config as Config
        from phase5_multimodal_financial_sentiment.train import main
    else:
        from phase1_financial_phrasebank.config import Phase1Config as Config
        from phase1_financial_phrasebank.train import main
    main(Config(**job["config"]))


def run_prune(job: dict) -> None:
    from common.distributed import RankStopped, world
    from phase1_financial_phrasebank.config import Phase1Config
    from phase1_financial_phrasebank.train import main

    class Pruned(Exception):
        pass

    def prune(epoch: int, row: dict) -> None:
        if world().rank == 0:  # only rank 0 ever calls this; the assertion is the rest of the job's log
            raise Pruned(f"pruned after epoch {epoch}")
        raise AssertionError("on_epoch_end ran on a rank other than 0")

    try:
        main(Phase1Config(**job["config"]), on_epoch_end=prune)
        met = "nothing"
    except Pruned as exc:
        met = f"Pruned: {exc}"
    except RankStopped as exc:
        met = f"RankStopped: {exc}"
    Path(job["report"]).with_name(f"rank{world().rank}.txt").write_text(met)


def run_eval_order(job: dict) -> None:
    import numpy as np

    from common.batching import EncodedDataset, make_eval_loader
    from common.distributed import init_distributed, is_main_process
    from common.training_steps import predict
    from transformers import AutoTokenizer

    class Echo(torch.nn.Module):
        """Logits that encode the first token id."""

        def forward(self, input_ids, attention_mask=None, **_):
            return type("Out", (), {"logits": input_ids[:, :1].float().repeat(1, 3)})()

    init_distributed("cpu")
    tokenizer = AutoTokenizer.from_pretrained(job["tokenizer"])
    rng = np.random.default_rng(0)
    results = {}
    for n in job["sizes"]:
        ids = [[i + 10] + [5] * int(rng.integers(1, 20)) for i in range(n)]
        dataset = EncodedDataset({"input_ids": ids, "attention_mask": [[1] * len(x) for x in ids]},
                                 [i % 3 for i in range(n)])
        loader = make_eval_loader(dataset, tokenizer, batch_size=4)
        logits, labels = predict(Echo(), loader, torch.device("cpu"), progress=False)
        results[n] = {"first_tokens": (logits[:, 0] - 10).astype(int).tolist(), "labels": labels.tolist(),
                      "this_rank": len(loader.sampler)}
    if is_main_process():
        Path(job["report"]).write_text(json.dumps(results))


def main() -> None:
    jobs = json.loads(Path(sys.argv[1]).read_text())
    log: list[str] = []
    audit = next((job for job in jobs if "audit" in job), None)
    if audit:
        audit_writes(Path(audit["watch"]), log)
    try:
        for job in jobs:
            {"phase1": run_phase, "phase5": run_phase, "prune": run_prune,
             "eval_order": run_eval_order}[job["kind"]](job)
    finally:
        if audit:
            rank = os.environ.get("RANK", "0")
            Path(audit["audit"]).mkdir(parents=True, exist_ok=True)
            (Path(audit["audit"]) / f"rank{rank}.json").write_text(json.dumps(log))
        from common.distributed import close_distributed
        close_distributed()


if __name__ == "__main__":
    main()
