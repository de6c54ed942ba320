"""Push a run's model, with its card, to the Hugging Face hub.

Usage:
    python -m common.publish runs/phase1_financial_phrasebank/distilbert_seed42 --repo_id me/finbert-phrasebank
    python -m common.publish RUN_DIR --repo_id NAME --checkpoint merged --private
    python -m common.publish RUN_DIR --repo_id NAME --dry_run      # the default when offline

The folder to push is assembled in `<run dir>/publish/<checkpoint>/` from the checkpoint's
model files alone (config, safetensors weights, tokenizer files, the model card): never
its training state (optimizer, RNG), never data. Before anything is pushed the folder is
checked: its card parses as a Hugging Face model card with metadata, and its model and
tokenizer load with `transformers`. `--dry_run` (forced when HF_HUB_OFFLINE is set) stops
after the check and prints what would be pushed.
"""
from __future__ import annotations

import argparse
import fnmatch
import importlib
import shutil
from pathlib import Path
from typing import Optional, Sequence

from common.cli import exit_on_bad_input
from common.errors import ConfigError, DataError

# What a model repository holds; anything else in a checkpoint stays behind.
MODEL_FILES = ("config.json", "generation_config.json", "*.safetensors", "adapter_config.json", "tokenizer.json",
               "tokenizer_config.json", "special_tokens_map.json", "vocab.txt", "vocab.json", "merges.txt",
               "*.model", "added_tokens.json", "README.md")


def is_model_file(name: str) -> bool:
    return any(fnmatch.fnmatch(name, pattern) for pattern in MODEL_FILES)


def assemble(run_dir: Path, checkpoint: str) -> tuple[Path, list[str]]:
    """The folder to push (model files of the checkpoint) and the names left out."""
    source = Path(run_dir) / "checkpoints" / checkpoint
    if not (source / "config.json").is_file() and not (source / "adapter_config.json").is_file():
        raise DataError(f"{source} is not a saved model (no config.json); choose another --checkpoint "
                        "or finish the run first")
    if not (source / "README.md").is_file():
        raise DataError(f"{source} has no model card (README.md); it was saved before cards were written: "
                        "re-run the training")
    target = Path(run_dir) / "publish" / checkpoint
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    left_out = []
    for path in sorted(source.iterdir()):
        if path.is_file() and is_model_file(path.name):
            shutil.copy2(path, target / path.name)
        else:
            left_out.append(path.name)
    return target, left_out


def check_folder(folder: Path) -> dict:
    """The card parses with its metadata, and the model and tokenizer load: their summary."""
    from huggingface_hub import ModelCard
    from transformers import AutoConfig, AutoTokenizer

    for module in ("common.heads", "common.small_transformers"):  # they register their model types
        importlib.import_module(module)

    card = ModelCard.load(folder / "README.md", ignore_metadata_errors=False)
    metadata = card.data.to_dict()
    for key in ("metrics", "library_name"):
        if not metadata.get(key):
            raise DataError(f"{folder / 'README.md'}: the card's metadata has no {key!r}")
    if (folder / "adapter_config.json").exists():
        model_type = "LoRA adapter (load it onto its base model with peft)"
    else:
        model_type = AutoConfig.from_pretrained(folder).model_type
        from transformers import AutoModelForSequenceClassification

        AutoModelForSequenceClassification.from_pretrained(folder)
    AutoTokenizer.from_pretrained(folder)
    return {"model_type": model_type, "card": metadata}


def publish(run_dir: Path, repo_id: str, checkpoint: str = "best", private: bool = False,
            dry_run: bool = False) -> Path:
    """Assemble, check and (unless `dry_run` or offline) push; return the assembled folder."""
    from huggingface_hub import constants

    from huggingface_hub.utils import HFValidationError, validate_repo_id

    if "/" not in repo_id or repo_id.count("/") != 1:
        raise ConfigError(f"--repo_id {repo_id!r}: expected <user or organisation>/<name>")
    try:  # the hub's own rule, in a dry run too: a name it would refuse fails before anything is assembled
        validate_repo_id(repo_id)
    except HFValidationError as exc:
        raise ConfigError(f"--repo_id {repo_id!r}: the hub would refuse it ({str(exc).splitlines()[0]})") from None
    folder, left_out = assemble(Path(run_dir), checkpoint)
    summary = check_folder(folder)
    files = sorted(folder.iterdir())
    print(f"{folder}: {summary['model_type']}; " + ", ".join(f"{p.name} ({p.stat().st_size / 1e6:.1f} MB)"
                                                             for p in files))
    if left_out:
        print(f"left out (not model files): {', '.join(left_out)}")
    if constants.HF_HUB_OFFLINE and not dry_run:
        print("HF_HUB_OFFLINE is set: a dry run (nothing pushed)")
        dry_run = True
    if dry_run:
        print(f"dry run: would push {len(files)} files to https://huggingface.co/{repo_id}"
              f"{' (private)' if private else ''}")
        return folder
    from huggingface_hub import HfApi

    api = HfApi()
    api.create_repo(repo_id, private=private, exist_ok=True)
    api.upload_folder(folder_path=str(folder), repo_id=repo_id, commit_message=f"Upload {Path(run_dir).name}")
    print(f"pushed {len(files)} files to https://huggingface.co/{repo_id}")
    return folder


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(allow_abbrev=False, description="Push a run's model and card to the hub.")
    parser.add_argument("run_dir", help="A run directory (runs/<phase>/<run_name>).")
    parser.add_argument("--repo_id", required=True, help="Hub repository, <user or organisation>/<name>.")
    parser.add_argument("--checkpoint", default="best", choices=("best", "merged"),
                        help="checkpoints/best, or the merged LoRA export (phase 1 --merge).")
    parser.add_argument("--private", action="store_true", help="Create the repository private.")
    parser.add_argument("--dry_run", action="store_true", help="Assemble and check only; push nothing.")
    args = parser.parse_args(argv)
    exit_on_bad_input(lambda: publish(Path(args.run_dir), args.repo_id, args.checkpoint, args.private,
                                      args.dry_run))


if __name__ == "__main__":
    main()
