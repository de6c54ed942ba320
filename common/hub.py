"""What a run takes from the Hugging Face hub, and the preflight that checks it is there.

A `HubRef` names one hub repository a run reads: a model (config, tokenizer and weights)
or a data set (the files its loader opens), at a revision, with where it is used. A phase
says which refs a config needs (its `hub_refs`); `python -m common.reproduce --check`
gathers them over the whole plan and resolves each one before hours of GPU time go into
it: found, missing (no such repository, revision or file) or gated (a licence to accept
first), and how many bytes of weights or data files it will download.

Two resolvers read a repository's file listing: `HubResolver` asks the hub (metadata
only, nothing is downloaded) and `CacheResolver` reads a local Hugging Face cache
directory through `huggingface_hub.scan_cache_dir` (what is already downloaded, e.g. on
a machine that will run offline). The check itself, which files a ref needs and what they
weigh, is the same for both. A few files come from outside the hub (torchvision's
ImageNet weights); they are refs of type "url", asked for their size alone.
"""
from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional, Sequence

# Files a model needs before its weights: the config, and one of the tokenizer files.
MODEL_CONFIG = "config.json"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "vocab.json", "sentencepiece.bpe.model",
                   "spiece.model")
# transformers loads safetensors when a repository has them, else the PyTorch pickle.
WEIGHT_PATTERNS = (("*.safetensors",), ("pytorch_model*.bin",))


class HubUnreachable(RuntimeError):
    """The hub (or the cache a resolver reads) cannot be reached at all."""


@dataclass(frozen=True)
class HubRef:
    """One hub repository a run reads.

    `files` are glob patterns inside the repository; each must match at least one file
    (a data set's parquet shards, a release zip). A model ref also needs its config and
    a tokenizer, and its weights unless `weights` is False (a model trained from scratch
    that borrows only the tokenizer)."""

    repo_id: str
    repo_type: str  # "model", "dataset", or "url" (a file outside the hub, e.g. torchvision's weights)
    used_by: str = ""
    revision: Optional[str] = None
    files: tuple[str, ...] = ()
    weights: bool = True

    @property
    def key(self) -> tuple:
        return self.repo_type, self.repo_id, self.revision, self.files, self.weights

    def describe(self) -> str:
        at = f"@{self.revision}" if self.revision else ""
        only = " (tokenizer only)" if self.repo_type == "model" and not self.weights else ""
        return f"{self.repo_type} {self.repo_id}{at}{only}"


@dataclass
class Listing:
    """A repository's files (path -> bytes) at one revision, or why there is none."""

    files: dict[str, int] = field(default_factory=dict)
    missing: Optional[str] = None  # why the repository or revision is not there
    gated: Optional[str] = None  # why it cannot be downloaded yet (a licence to accept)


@dataclass
class Resolution:
    ref: HubRef
    status: str  # "found", "missing" or "gated"
    download_bytes: int = 0
    detail: str = ""
    used_by: list[str] = field(default_factory=list)


def is_hub_id(name_or_path: str) -> bool:
    """Whether `name_or_path` names a hub repository rather than a local directory (one
    that exists, or a path a step will create, such as runs/quick/assets/tiny_bert)."""
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    if not name_or_path or Path(name_or_path).expanduser().is_dir():
        return False
    try:
        validate_repo_id(name_or_path)
    except HFValidationError:
        return False
    return not name_or_path.startswith((".", "~"))


def model_ref(name_or_path: str, used_by: str, weights: bool = True) -> list[HubRef]:
    """The hub model behind `name_or_path`, or nothing when it is a local directory."""
    return [HubRef(name_or_path, "model", used_by, weights=weights)] if is_hub_id(name_or_path) else []


def url_ref(url: str, used_by: str) -> HubRef:
    return HubRef(url, "url", used_by)


def url_listing(url: str) -> Listing:
    """A file outside the hub, asked for its size (HEAD), not downloaded."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=20) as response:
            return Listing({url: int(response.headers.get("Content-Length") or 0)})
    except urllib.error.HTTPError as exc:
        return Listing(missing=f"HTTP {exc.code} {exc.reason}")
    except OSError as exc:  # URLError too: no route, no name resolution
        raise HubUnreachable(f"{url}: {exc}") from None


def matching(files: dict[str, int], pattern: str) -> dict[str, int]:
    return {path: size for path, size in files.items() if fnmatch.fnmatchcase(path, pattern)}


def check_listing(ref: HubRef, listing: Listing) -> Resolution:
    """Which of the files `ref` needs are in `listing`, and what they weigh."""
    if listing.missing:
        return Resolution(ref, "missing", detail=listing.missing)
    if listing.gated and not listing.files:  # the hub shows a gated repository's files only after access
        return Resolution(ref, "gated", detail=listing.gated)
    needed: dict[str, int] = {}
    absent = []
    for pattern in ref.files:
        found = matching(listing.files, pattern)
        if not found:
            absent.append(pattern)
        needed.update(found)
    if ref.repo_type == "model":
        if MODEL_CONFIG not in listing.files:
            absent.append(MODEL_CONFIG)
        if not any(name in listing.files for name in TOKENIZER_FILES):
            absent.append(f"a tokenizer ({', '.join(TOKENIZER_FILES)})")
        if ref.weights:
            weights = next((found for patterns in WEIGHT_PATTERNS
                            if (found := {k: v for p in patterns for k, v in matching(listing.files, p).items()})), {})
            if not weights:
                absent.append("weights (*.safetensors or pytorch_model*.bin)")
            needed.update(weights)
    if absent:
        return Resolution(ref, "missing", detail="no " + "; no ".join(absent))
    size = sum(needed.values())
    if listing.gated:
        return Resolution(ref, "gated", size, listing.gated)
    return Resolution(ref, "found", size)


def is_network_error(exc: BaseException) -> bool:
    """A failure to reach a server, whatever the HTTP library calls it (requests' errors are
    OSErrors; httpx's derive from a `TransportError`)."""
    return isinstance(exc, OSError) or any(cls.__name__ == "TransportError" for cls in type(exc).__mro__)


class HubResolver:
    """File listings from the hub's API (metadata only)."""

    def __init__(self, token: Optional[str] = None):
        from huggingface_hub import HfApi

        self.api = HfApi(token=token)

    def listing(self, ref: HubRef) -> Listing:
        from huggingface_hub.errors import (GatedRepoError, OfflineModeIsEnabled, RepositoryNotFoundError,
                                            RevisionNotFoundError)

        if ref.repo_type == "url":
            return url_listing(ref.repo_id)
        try:
            info = self.api.repo_info(ref.repo_id, repo_type=ref.repo_type, revision=ref.revision,
                                      files_metadata=True)
        except OfflineModeIsEnabled:
            raise HubUnreachable("HF_HUB_OFFLINE is set") from None
        except RevisionNotFoundError:
            return Listing(missing=f"no revision {ref.revision!r}")
        except GatedRepoError:
            return Listing(missing=None, gated="gated: accept its licence on the hub page, then log in "
                           "(`hf auth login`)")
        except RepositoryNotFoundError:
            return Listing(missing="no such repository (or it is private and this token may not read it)")
        except Exception as exc:
            if is_network_error(exc):
                raise HubUnreachable(f"{type(exc).__name__}: {exc}") from None
            raise
        files = {sibling.rfilename: sibling.size or 0 for sibling in info.siblings or []}
        gated = None
        if getattr(info, "gated", False):
            try:
                self.api.auth_check(ref.repo_id, repo_type=ref.repo_type)
            except GatedRepoError:
                gated = (f"gated ({info.gated} approval): accept its licence at "
                         f"https://huggingface.co/{'datasets/' if ref.repo_type == 'dataset' else ''}{ref.repo_id}, "
                         "then log in (`hf auth login`)")
        return Listing(files, gated=gated)


class CacheResolver:
    """File listings from a local Hugging Face cache (`HF_HUB_CACHE`, `~/.cache/huggingface/hub`);
    files outside the hub from the torch hub cache (`TORCH_HOME`)."""

    def __init__(self, cache_dir: Path):
        from huggingface_hub import scan_cache_dir

        if not Path(cache_dir).is_dir():
            raise HubUnreachable(f"cache directory {cache_dir} does not exist")
        self.cache_dir = Path(cache_dir)
        self.repos = {(repo.repo_type, repo.repo_id): repo for repo in scan_cache_dir(cache_dir).repos}

    def listing(self, ref: HubRef) -> Listing:
        if ref.repo_type == "url":  # torch.hub keeps downloaded weights under <hub dir>/checkpoints
            import torch

            path = Path(torch.hub.get_dir()) / "checkpoints" / ref.repo_id.rsplit("/", 1)[-1]
            return Listing({ref.repo_id: path.stat().st_size}) if path.is_file() else \
                Listing(missing=f"not in the torch hub cache ({path})")
        repo = self.repos.get((ref.repo_type, ref.repo_id))
        if repo is None:
            return Listing(missing=f"not in the cache {self.cache_dir}")
        wanted = ref.revision or "main"
        for revision in repo.revisions:
            if wanted in revision.refs or revision.commit_hash == wanted:
                return Listing({f.file_path.relative_to(revision.snapshot_path).as_posix(): f.size_on_disk
                                for f in revision.files})
        known = sorted(r for revision in repo.revisions for r in revision.refs)
        return Listing(missing=f"revision {wanted!r} is not in the cache (cached: {', '.join(known) or 'none'})")


def merge_refs(refs: Iterable[HubRef]) -> list[tuple[HubRef, list[str]]]:
    """One entry per distinct ref, in first-use order, with every place that uses it."""
    merged: dict[tuple, tuple[HubRef, list[str]]] = {}
    for ref in refs:
        entry = merged.setdefault(ref.key, (ref, []))
        if ref.used_by and ref.used_by not in entry[1]:
            entry[1].append(ref.used_by)
    return list(merged.values())


def resolve_refs(refs: Iterable[HubRef], resolver) -> list[Resolution]:
    """Resolve every distinct ref once; `HubUnreachable` stops at the first that cannot be asked."""
    results = []
    for ref, used_by in merge_refs(refs):
        resolution = check_listing(ref, resolver.listing(ref))
        resolution.used_by = used_by
        results.append(resolution)
    return results


def human_bytes(count: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if count < 1000 or unit == "GB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000
    return f"{count:.1f} GB"


def summarize_uses(used_by: Sequence[str], most: int = 3) -> str:
    shown = ", ".join(used_by[:most])
    return shown + (f" and {len(used_by) - most} more" if len(used_by) > most else "")


def format_resolution(result: Resolution) -> str:
    what = {"model": "weights", "dataset": "files", "url": "file"}[result.ref.repo_type]
    size = f"{human_bytes(result.download_bytes)} of {what}" if result.status != "missing" else ""
    detail = f" ({result.detail})" if result.detail else ""
    return (f"{result.status:<8} {result.ref.describe():<60} {size:<20} used by {summarize_uses(result.used_by)}"
            f"{detail}")
