"""Entry-point wrappers: parse the config, run, and turn input errors into one clear line."""
from __future__ import annotations

import os
import shlex
import signal
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

from common.config import parse_config
from common.distributed import close_distributed, launched_world
from common.errors import ConfigError, DataError
from common.records import read_jsonl
from common.run_lock import last_run


def stop_on_signal(signum: int, frame: Any) -> None:
    """SIGTERM as Ctrl-C: the run stops between two statements and says where."""
    raise KeyboardInterrupt(signal.Signals(signum).name)


def exit_on_bad_input(entry: Callable[[], Any]) -> Any:
    """Run `entry`; bad input (config, data, device) exits with status 2 and a message
    naming the problem; anything else is a bug and keeps its traceback."""
    try:
        return entry()
    except (ConfigError, DataError) as exc:
        launched = launched_world()  # under torchrun, which rank says it
        where = f" (rank {launched.rank} of {launched.size})" if launched.size > 1 else ""
        print(f"error{where}: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def interrupted_message(cfg: Any, argv: Sequence[str], signal_name: str) -> str:
    """Where an interrupted run stopped (its finished epochs, from history.jsonl) and the command that continues it."""
    run_dir = last_run()
    if run_dir is None or (run_dir / "metrics.json").exists():
        return (f"interrupted ({signal_name}) while no run was training (before its directory was made, or after "
                "its records were written): nothing to resume")
    epochs = len(read_jsonl(run_dir / "history.jsonl"))
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    command = ["python", "-m", spec.name] if spec else ["python", sys.argv[0]]
    args = [shlex.quote(a) for a in argv if a not in ("--resume", "--overwrite")]
    return (f"interrupted ({signal_name}): {run_dir} has {epochs} of {cfg.epochs} epoch(s) finished; continue it "
            f"with: {' '.join([*command, *args, '--resume'])}")


def run_cli(main: Callable, config_cls: type, preset_dir: Path, argv: Sequence[str] | None = None,
            description: str | None = None) -> None:
    """`main(cfg, provenance)` with the config from presets and `--key value` overrides.
    Ctrl-C (and, outside torchrun, SIGTERM) ends the run with one line saying where it
    stopped and the `--resume` command, exit status 130."""
    argv = list(sys.argv[1:] if argv is None else argv)

    def entry() -> None:
        cfg, provenance = parse_config(config_cls, argv, preset_dir, description)
        try:
            main(cfg, provenance)
        except KeyboardInterrupt as exc:
            print(interrupted_message(cfg, argv, str(exc) or "SIGINT"), file=sys.stderr)
            raise SystemExit(130) from None
        finally:
            close_distributed()  # the process group of a torchrun job, if the run joined one

    if launched_world().size == 1:  # torchrun stops its ranks with SIGTERM itself: leave its handling alone
        signal.signal(signal.SIGTERM, stop_on_signal)

    # Under torchrun (which names an error file) a failing rank's traceback goes into its summary
    # of the job. Elsewhere `record` has nowhere to write and only turns on a fault handler, which
    # warns wherever stderr is not a file (under pytest's capture, say).
    if "TORCHELASTIC_ERROR_FILE" in os.environ:
        from torch.distributed.elastic.multiprocessing.errors import record

        entry = record(entry)
    exit_on_bad_input(entry)
