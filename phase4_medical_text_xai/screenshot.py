"""Render an explanation page in headless Chromium and save a screenshot, to check that the
HTML report displays as intended in a real browser.

Usage:
    python -m phase4_medical_text_xai.screenshot runs/phase4_medical_text_xai/<run>/explanations/example_0000.html \
        --out page.png [--width 1400 --height 1000]

Needs Chromium (Debian: apt-get install chromium).
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Optional, Sequence

from common.cli import exit_on_bad_input
from common.errors import ConfigError, DataError


def find_chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    raise ConfigError("no headless Chromium found: install it (Debian: apt-get install chromium)")


def screenshot(page: Path, out: Path, width: int = 1400, height: int = 1000) -> Path:
    page, out = Path(page).resolve(), Path(out).resolve()
    if not page.is_file():
        raise DataError(f"page {page} does not exist")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as profile:  # a fresh profile: no state shared between calls
        command = [find_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                   f"--user-data-dir={profile}", f"--window-size={width},{height}", f"--screenshot={out}",
                   page.as_uri()]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    if result.returncode != 0 or not out.is_file():
        raise RuntimeError(f"chromium failed ({result.returncode}): {result.stderr.strip()[-500:]}")
    return out


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(allow_abbrev=False, description=__doc__.split("\n\n")[0])
    parser.add_argument("page", help="HTML file to render.")
    parser.add_argument("--out", default="screenshot.png", help="PNG to write.")
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--height", type=int, default=1000)
    args = parser.parse_args(argv)
    exit_on_bad_input(lambda: print(screenshot(Path(args.page), Path(args.out), args.width, args.height)))


if __name__ == "__main__":
    main()
