"""transformers' load report folded into one line of this repository's.

For every checkpoint whose weights differ from the model built (an encoder under a new
head, say), transformers logs a coloured, multi-line table, plus a progress bar per load:
nine lines on every run, which bury the lines that matter. `folded_load_report` turns both
off for one load; `describe_loading` says in one line what the load left new or unused
outside the head (the head itself is reported by `common.models.load_classifier`), and
says nothing when the rest loaded whole.
"""
from __future__ import annotations

import contextlib
from typing import Iterable, Iterator, Optional

SHOWN_KEYS = 4


@contextlib.contextmanager
def folded_load_report() -> Iterator[None]:
    from transformers.utils import logging as hf_logging

    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


def listed(keys: list[str]) -> str:
    more = f" and {len(keys) - SHOWN_KEYS} more" if len(keys) > SHOWN_KEYS else ""
    return ", ".join(keys[:SHOWN_KEYS]) + more


def describe_loading(source: str, info: dict, head_keys: Iterable[str] = ()) -> Optional[str]:
    """One line on what `from_pretrained(..., output_loading_info=True)` left newly initialised
    or unused outside `head_keys`; None when every other weight came from the checkpoint."""
    head = set(head_keys)
    new = sorted(set(info.get("missing_keys", ())) - head)
    new += sorted(entry[0] for entry in info.get("mismatched_keys", ()) if entry[0] not in head)
    unused = sorted(info.get("unexpected_keys", ()))
    parts = []
    if new:
        parts.append(f"{len(new)} weights not in the checkpoint, newly initialised: {listed(new)}")
    if unused:
        parts.append(f"{len(unused)} checkpoint weights unused: {listed(unused)}")
    return f"loaded {source}: " + "; ".join(parts) if parts else None
