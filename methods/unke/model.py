"""A decoder-only transformers model seen from UnKE: chat encoding, its blocks, calling them."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn


@dataclass(frozen=True)
class Encoded:
    """Token ids of a chat prompt followed by an answer ending in EOS."""

    prompt: list[int]
    answer: list[int]

    @property
    def last_prompt(self) -> int:
        """Index of the last question token: the position UnKE's key and value live at."""
        return len(self.prompt) - 1


def decoder_parts(model: Any) -> tuple[nn.ModuleList, nn.Module, nn.Module, nn.Module]:
    """(layers, rotary embedding, final norm, lm head) of a Llama-style causal LM."""
    inner = getattr(model, "model", None)
    parts = [getattr(inner, name, None) for name in ("layers", "rotary_emb", "norm")]
    head = getattr(model, "lm_head", None)
    if inner is None or any(p is None for p in parts) or head is None:
        raise ValueError(
            f"model must be a Llama-style causal LM (model.model.layers, .rotary_emb, .norm and "
            f"lm_head); got {type(model).__name__}"
        )
    return parts[0], parts[1], parts[2], head


def check_layer(model: Any, layer: int) -> int:
    layers = decoder_parts(model)[0]
    # The last block's output is the final-norm input; hidden_states[-1] is normed, so exclude it.
    if not 0 <= layer < len(layers) - 1:
        raise ValueError(f"layer must be in [0, {len(layers) - 2}] for this model, got {layer}")
    return layer


def prompt_text(tokenizer: Any, question: str) -> str:
    return tokenizer.apply_chat_template(
        [{"role": "user", "content": question}], tokenize=False, add_generation_prompt=True
    )


def encode(tokenizer: Any, question: str, answer: str = "") -> Encoded:
    """The chat-formatted question, and the answer's tokens followed by EOS."""
    prompt = tokenizer(prompt_text(tokenizer, question), add_special_tokens=False).input_ids
    answer_ids = tokenizer(answer, add_special_tokens=False).input_ids if answer else []
    return Encoded(list(prompt), list(answer_ids) + [tokenizer.eos_token_id])


def call_block(block: nn.Module, rotary: nn.Module, hidden: torch.Tensor) -> torch.Tensor:
    """Run one decoder block on right-padded sequences (batch, pos, d) starting at position 0.

    No mask is passed, so sdpa applies the causal mask itself; right padding then never
    reaches a real token. Current transformers returns a tensor, older ones a tuple: taking
    `[0]` of a tensor would silently keep only the first sequence, so the type is checked.
    """
    positions = torch.arange(hidden.shape[1], device=hidden.device).unsqueeze(0)
    out = block(
        hidden,
        attention_mask=None,
        position_ids=positions,
        position_embeddings=rotary(hidden, positions),
    )
    return out[0] if isinstance(out, tuple) else out


def run_from(model: Any, layer: int, hidden: torch.Tensor) -> torch.Tensor:
    """Logits from block `layer`'s output (batch, pos, d), running blocks layer+1.. and the head."""
    layers, rotary, norm, head = decoder_parts(model)
    for block in layers[layer + 1 :]:
        hidden = call_block(block, rotary, hidden)
    return head(norm(hidden))


@torch.no_grad()
def block_io(model: Any, layer: int, ids: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Input and output of block `layer` for one sequence: two (pos, d) tensors."""
    device = next(model.parameters()).device
    out = model(torch.tensor([ids], device=device), output_hidden_states=True)
    return out.hidden_states[layer][0], out.hidden_states[layer + 1][0]


def right_pad(rows: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack (pos_i, d) tensors as zero-padded (n, max_pos, d) and their (n, max_pos) mask."""
    longest = max(r.shape[0] for r in rows)
    batch = rows[0].new_zeros(len(rows), longest, rows[0].shape[-1])
    mask = torch.zeros(len(rows), longest, dtype=torch.bool, device=rows[0].device)
    for i, row in enumerate(rows):
        batch[i, : row.shape[0]] = row
        mask[i, : row.shape[0]] = True
    return batch, mask


class SuffixRunner:
    """Logits of a sequence whose block-`layer` output changes only from position `start` on.

    Blocks after `layer` see the prefix [0, start) unchanged, so its keys and values are computed
    once and cached; each call then runs only the suffix, which halves stage 1's cost.
    """

    def __init__(self, model: Any, layer: int, hidden: torch.Tensor, start: int) -> None:
        from transformers import DynamicCache

        if not 0 < start < hidden.shape[1]:
            raise ValueError(f"start must be in (0, {hidden.shape[1]}), got {start}")
        self.model, self.layer, self.start = model, layer, start
        self.layers, self.rotary, self.norm, self.head = decoder_parts(model)
        self.cache = DynamicCache(config=model.config)
        # transformers renamed the blocks' cache argument (past_key_values -> cache); passing the
        # wrong name would be swallowed by **kwargs and silently run without the prefix.
        params = inspect.signature(self.layers[0].forward).parameters
        self.cache_arg = "cache" if "cache" in params else "past_key_values"
        device = hidden.device
        with torch.no_grad():
            h = hidden[:, :start]
            pos = torch.arange(start, device=device).unsqueeze(0)
            emb = self.rotary(h, pos)
            for block in self.layers[layer + 1 :]:
                h = block(
                    h,
                    attention_mask=None,
                    position_ids=pos,
                    position_embeddings=emb,
                    **{self.cache_arg: self.cache},
                    use_cache=True,
                )
        # Kept to put back after each call, which appends the suffix's keys and values.
        self.prefix_kv = [
            (self.cache.layers[i].keys, self.cache.layers[i].values)
            for i in range(layer + 1, len(self.layers))
        ]
        total = hidden.shape[1]
        self.positions = torch.arange(start, total, device=device).unsqueeze(0)
        # Boolean (1, 1, suffix, total) mask, True where attending is allowed: all of the prefix
        # and the causal part of the suffix.
        query = torch.arange(start, total, device=device)[:, None]
        key = torch.arange(total, device=device)[None, :]
        self.mask = (key <= query)[None, None]

    def __call__(self, suffix: torch.Tensor) -> torch.Tensor:
        """suffix: (1, pos - start, d) block outputs -> (1, pos - start, vocab) logits."""
        emb = self.rotary(suffix, self.positions)
        h = suffix
        for block in self.layers[self.layer + 1 :]:
            h = block(
                h,
                attention_mask=self.mask,
                position_ids=self.positions,
                position_embeddings=emb,
                **{self.cache_arg: self.cache},
                use_cache=True,
            )
        for index, (keys, values) in enumerate(self.prefix_kv, start=self.layer + 1):
            self.cache.layers[index].keys, self.cache.layers[index].values = keys, values
        return self.head(self.norm(h))
