"""Train/val/test splits of any kind of example, with their label names.

A text phase's examples are `common.text_data.Example`s; phase 5's carry an image as
well. Whatever the type, an example has a `label` (an index into `label_names`) and may
have a `group` (e.g. its language), for which metrics are also reported.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Splits:
    """Train/val/test examples, label names, and extra test sets (e.g. per agreement level)."""

    label_names: list[str]
    train: list[Any]
    val: list[Any]
    test: list[Any]
    extra_tests: dict[str, list[Any]] = field(default_factory=dict)
    info: dict = field(default_factory=dict)  # where the data came from, how it was split and cleaned

    def split(self, name: str) -> list[Any]:
        return {"train": self.train, "val": self.val, "test": self.test}[name]
