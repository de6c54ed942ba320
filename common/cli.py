"""Entry-point wrappers: parse the config, run, and turn input errors into one clear line."""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

from torch.distributed.elastic.multiprocessing.errors import record

from common.config import parse_config
from common.distributed import close_distributed, launched_world
from common.errors import ConfigError, DataError


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


def run_cli(main: Callable, config_cls: type, preset_dir: Path, argv: Sequence[str] | None = None,
            description: str | None = None) -> None:
    """`main(cfg, provenance)` with the config from presets and `--key value` overrides."""
    def entry() -> None:
        cfg, provenance = parse_config(config_cls, argv, preset_dir, description)
        try:
            main(cfg, provenance)
        finally:
            close_distributed()  # the process group of a torchrun job, if the run joined one

    # Under torchrun (which names an error file) a failing rank's traceback goes into its summary
    # of the job. Elsewhere `record` has nowhere to write and only turns on a fault handler, which
    # warns wherever stderr is not a file (under pytest's capture, say).
    exit_on_bad_input(record(entry) if "TORCHELASTIC_ERROR_FILE" in os.environ else entry)
