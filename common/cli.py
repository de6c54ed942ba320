"""Entry-point wrappers: parse the config, run, and turn input errors into one clear line."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable, Sequence

from common.config import parse_config
from common.errors import ConfigError, DataError


def exit_on_bad_input(entry: Callable[[], Any]) -> Any:
    """Run `entry`; bad input (config, data, device) exits with status 2 and a message
    naming the problem; anything else is a bug and keeps its traceback."""
    try:
        return entry()
    except (ConfigError, DataError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def run_cli(main: Callable, config_cls: type, preset_dir: Path, argv: Sequence[str] | None = None,
            description: str | None = None) -> None:
    """`main(cfg, provenance)` with the config from presets and `--key value` overrides."""
    def entry() -> None:
        cfg, provenance = parse_config(config_cls, argv, preset_dir, description)
        main(cfg, provenance)

    exit_on_bad_input(entry)
