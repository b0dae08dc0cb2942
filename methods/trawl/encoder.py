"""The frozen text encoder (a sentence-transformers model such as all-MiniLM-L6-v2) and a disk
cache of its vectors, so repeated runs and seeds reuse them."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Protocol

import numpy as np


class TextEncoder(Protocol):
    """Turns texts into float32 vectors of shape (n, dim); memory.SentenceEmbedder fits."""

    name: str

    def embed(self, texts: list[str]) -> np.ndarray: ...


class SentenceEncoder:
    """A sentence-transformers model from a local folder, loaded on first use, never trained."""

    def __init__(self, model_dir: str | Path, *, batch_size: int = 64) -> None:
        self.model_dir = Path(model_dir)
        if not (self.model_dir / "config.json").is_file():
            raise FileNotFoundError(
                f"model_dir must be a sentence-transformers folder (config.json missing): "
                f"{self.model_dir}"
            )
        self.name = self.model_dir.name
        self.batch_size = batch_size
        self._model: Any = None

    def embed(self, texts: list[str]) -> np.ndarray:
        if self._model is None:
            from sentence_transformers import SentenceTransformer

            self._model = SentenceTransformer(
                str(self.model_dir), device="cpu", local_files_only=True
            )
        vectors = self._model.encode(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)


def embed_cached(
    encoder: TextEncoder, texts: list[str], cache_dir: str | Path | None = None
) -> np.ndarray:
    """Embed `texts`, reading and writing `cache_dir/<hash of encoder and texts>.npy`."""
    if not texts:
        raise ValueError("texts must not be empty")
    path = None
    if cache_dir is not None:
        digest = hashlib.sha256("\x00".join([encoder.name, *texts]).encode()).hexdigest()[:32]
        path = Path(cache_dir) / f"{digest}.npy"
        if path.is_file():
            return np.load(path)
    vectors = np.asarray(encoder.embed(texts), dtype=np.float32)
    if vectors.ndim != 2 or len(vectors) != len(texts) or not np.isfinite(vectors).all():
        raise ValueError(
            f"encoder returned shape {vectors.shape} (or non-finite values) for {len(texts)} texts"
        )
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, vectors)
    return vectors
