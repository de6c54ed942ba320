"""What several phase 5 tests do alike: predict with a saved model through the command line."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd


def predict_test_split(model_dir: Path, manifest: Path, out: Path) -> pd.DataFrame:
    """`python -m phase5_multimodal_financial_sentiment.predict` on the manifest's test split, as a
    user runs it (a fresh process, raw text and image files); its predictions.csv."""
    result = subprocess.run([sys.executable, "-m", "phase5_multimodal_financial_sentiment.predict", "--model",
                             str(model_dir), "--manifest", str(manifest), "--split", "test", "--out", str(out),
                             "--device", "cpu"],
                            cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return pd.read_csv(out)
