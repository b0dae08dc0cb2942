"""Text embeddings for the memory stream: a small protocol and a sentence-transformers model."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Protocol

import numpy as np


class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors of shape (n, dim)."""

    name: str

    def embed(self, texts: list[str]) -> np.ndarray: ...


class SentenceEmbedder:
    """A sentence-transformers model from a local directory, loaded on first use."""

    def __init__(self, model_dir: str | Path, *, batch_size: int = 64) -> None:
        self.model_dir = Path(model_dir)
        self.name = self.model_dir.name
        self.batch_size = batch_size
        self._model: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                from sentence_transformers import SentenceTransformer

                if not (self.model_dir / "config.json").is_file():
                    raise FileNotFoundError(
                        f"no sentence-transformers model in {self.model_dir} (config.json missing)"
                    )
                from transformers.utils import logging as hf_logging

                hf_logging.disable_progress_bar()  # a sub-second load needs no bar
                try:
                    self._model = SentenceTransformer(
                        str(self.model_dir), device="cpu", local_files_only=True
                    )
                finally:
                    hf_logging.enable_progress_bar()
            return self._model

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        vectors = self._load().encode(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=len(texts) > 2000,
        )
        return vectors.astype(np.float32, copy=False)
