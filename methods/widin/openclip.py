"""WIDIn's CLIP path on an open_clip model whose weights a user has on disk.

`load_open_clip(name, weights)` returns the two frozen towers in the shapes the rest of WIDIn
expects: `OpenClipImage` is an image encoder (an `nn.Module` from (N, 3, H, W) images in [0, 1]
to unit joint-space vectors, like `ClipTower`), and `OpenClipText` has `TextEncoder`'s
interface (`encode`, `word`, `word_embeddings`, `dim`), so stage 1 words images through
open_clip's own text transformer. The pseudo-word enters through a forward hook on the token
table: open_clip's `encode_text` runs unchanged, with the placeholder's embedding swapped.

Nothing is downloaded: `weights` must be a local checkpoint file, never a pretrained tag.
open_clip is an optional dependency (`pip install 'ponder[open-clip]'`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from methods.widin.text import split_template

# Two single-token words: the template is tokenised with each in the [V] slot, and the one
# position where the token ids differ is where the pseudo-word goes.
_PROBE_WORDS = ("cat", "dog")


def _import_open_clip() -> Any:
    try:
        import open_clip
    except ImportError as err:
        raise ImportError(
            "WIDIn's open_clip path needs open_clip_torch: pip install 'ponder[open-clip]'"
        ) from err
    return open_clip


class OpenClipImage(nn.Module):
    """E_v: an open_clip image tower, frozen; resizes and normalises as the model was trained.

    `source` (set by `load_open_clip`) is where the model came from, the arguments that load
    it again; a saved WIDIn model stores it instead of the tower's weights.
    """

    def __init__(self, model: nn.Module, source: dict[str, str | None] | None = None) -> None:
        super().__init__()
        self.source = source
        open_clip = _import_open_clip()
        cfg = open_clip.get_model_preprocess_cfg(model)
        size = cfg.get("size", 224)
        self.size = (size, size) if isinstance(size, int) else tuple(size)
        mean = torch.tensor(cfg.get("mean", open_clip.OPENAI_DATASET_MEAN))
        std = torch.tensor(cfg.get("std", open_clip.OPENAI_DATASET_STD))
        self.register_buffer("mean", mean.view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", std.view(1, 3, 1, 1), persistent=False)
        self.model = model.eval()
        for p in self.model.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:  # (B, 3, H, W) -> (B, embed_dim)
        if tuple(images.shape[-2:]) != self.size:
            images = F.interpolate(
                images, size=self.size, mode="bicubic", align_corners=False, antialias=True
            ).clamp(0, 1)
        return self.model.encode_image((images - self.mean) / self.std, normalize=True)


class OpenClipText:
    """The open_clip text tower with `TextEncoder`'s interface: sentences and worded images.

    `dim` is the width of the token table (the pseudo-word's size); sentence embeddings have
    the joint space's size. Frozen: gradients reach the pseudo-words only.
    """

    def __init__(self, model: nn.Module, tokenizer: Any) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.token_embedding = _token_table(model)
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.word_embeddings = self.token_embedding.weight
        self.dim = int(self.word_embeddings.shape[1])

    @torch.no_grad()
    def encode(self, texts: list[str]) -> torch.Tensor:
        """Unit sentence embeddings (N, embed_dim), exactly open_clip's `encode_text`."""
        if not texts:
            raise ValueError("texts is empty")
        return self.model.encode_text(self.tokenizer(texts), normalize=True)

    def word(self, template: str, tokens: torch.Tensor) -> torch.Tensor:
        """Embed `template` with each row of `tokens` (N, dim) standing where `[V]` is."""
        if tokens.ndim != 2 or tokens.shape[1] != self.dim:
            raise ValueError(f"tokens must have shape (N, {self.dim}), got {tuple(tokens.shape)}")
        ids, slot = self._slot(template)

        def put_pseudo_words(module: nn.Module, inputs: Any, embeds: torch.Tensor) -> torch.Tensor:
            embeds = embeds.clone()
            embeds[:, slot] = tokens.to(embeds.dtype)
            return embeds

        hook = self.token_embedding.register_forward_hook(put_pseudo_words)
        try:
            return self.model.encode_text(ids.expand(len(tokens), -1), normalize=True)
        finally:
            hook.remove()

    def _slot(self, template: str) -> tuple[torch.Tensor, int]:
        """Token ids of the template (1, context) and the position of its `[V]` slot."""
        before, after = split_template(template)
        a, b = (self.tokenizer([f"{before} {w} {after}".strip()]) for w in _PROBE_WORDS)
        differ = (a != b).nonzero()
        if len(differ) != 1:
            raise ValueError(
                f"cannot find one token slot for [V] in {template!r} with this tokenizer "
                f"(the probe words differ at {len(differ)} positions)"
            )
        return a, int(differ[0, 1])


@dataclass
class OpenClip:
    """Both frozen towers of one open_clip model."""

    image: OpenClipImage
    text: OpenClipText


def load_open_clip(
    model_name: str, weights: str | Path, config: str | Path | None = None
) -> OpenClip:
    """Load an open_clip model from a local checkpoint; never downloads.

    `model_name` is one of open_clip's built-in architectures (`open_clip.list_models()`), or
    the file name (without `.json`) of `config`, an open_clip model-config JSON for an
    architecture it does not ship. `weights` is the checkpoint file, loaded strictly.
    """
    open_clip = _import_open_clip()
    if ":" in model_name:
        raise ValueError(
            f"model_name {model_name!r} names a remote schema; give an architecture name and "
            "a local weights file (nothing is downloaded)"
        )
    weights = Path(weights)
    if not weights.is_file():
        raise FileNotFoundError(
            f"open_clip weights {str(weights)!r} do not exist; give the path of a checkpoint "
            "file you have (pretrained tags would download and are not accepted)"
        )
    if config is not None:
        config = Path(config)
        if not config.is_file():
            raise FileNotFoundError(f"open_clip model config {str(config)!r} does not exist")
        open_clip.add_model_config(config)
    if model_name not in open_clip.list_models():
        raise ValueError(
            f"unknown open_clip architecture {model_name!r}: use a name from "
            "open_clip.list_models() or pass the model-config JSON as config"
        )
    try:
        model = open_clip.create_model(model_name, pretrained=str(weights), device="cpu")
    except RuntimeError as err:  # strict loading: a checkpoint of another architecture
        raise ValueError(
            f"open_clip weights {str(weights)!r} do not fit architecture {model_name!r}: {err}"
        ) from err
    source = {
        "model_name": model_name,
        "weights": str(weights.resolve()),
        "config": None if config is None else str(config.resolve()),
    }
    text = OpenClipText(model, open_clip.get_tokenizer(model_name))
    return OpenClip(OpenClipImage(model, source), text)


def _token_table(model: nn.Module) -> nn.Embedding:
    """The text tower's token embedding table (CLIP, or a CustomTextCLIP's TextTransformer)."""
    for owner in (model, getattr(model, "text", None)):
        table = getattr(owner, "token_embedding", None)
        if isinstance(table, nn.Embedding):
            return table
    raise ValueError(
        f"{type(model).__name__} has no token embedding table (text towers from Hugging Face "
        "are not supported): WIDIn needs one to insert the pseudo-word"
    )
