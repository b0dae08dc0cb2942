"""A tiny pre-norm transformer and word tokenizer trained on synthetic subject-verb agreement:
a model small enough for tests, CI and the example task, with the same hook points as a HF LM."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from methods.circuits.agreement import FAMILIES, MAIN_VERBS, PREPOSITIONS, RC_VERBS, make_pairs


class WordTokenizer:
    """One id per space-separated word; `encode` of " is" is [id of "is"]."""

    def __init__(self, words: list[str]) -> None:
        self.words = sorted(set(words))
        self.ids = {w: i for i, w in enumerate(self.words)}

    def encode(self, text: str) -> list[int]:
        unknown = [w for w in text.split() if w not in self.ids]
        if unknown:
            raise KeyError(f"words {unknown} are not in the tiny vocabulary")
        return [self.ids[w] for w in text.split()]

    def decode(self, ids: list[int]) -> str:
        return " ".join(self.words[i] for i in ids)

    def __len__(self) -> int:
        return len(self.words)


def agreement_tokenizer(nouns: list[str]) -> WordTokenizer:
    words = ["The", "the", "that", *PREPOSITIONS]
    words += [n for noun in nouns for n in (noun, noun + "s")]
    words += [v for pair in MAIN_VERBS + RC_VERBS for v in pair]
    return WordTokenizer(words)


class _Attention(nn.Module):
    def __init__(self, d: int, n_heads: int) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.qkv = nn.Linear(d, 3 * d)
        self.out = nn.Linear(d, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, d = x.shape
        q, k, v = self.qkv(x).view(B, T, 3, self.n_heads, d // self.n_heads).unbind(2)
        y = nn.functional.scaled_dot_product_attention(
            q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), is_causal=True
        )  # (B, nh, T, hs)
        return self.out(y.transpose(1, 2).reshape(B, T, d))


class _Block(nn.Module):
    def __init__(self, d: int, n_heads: int) -> None:
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.attn = _Attention(d, n_heads)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class _Embed(nn.Module):
    def __init__(self, vocab: int, d: int, max_len: int) -> None:
        super().__init__()
        self.tok = nn.Embedding(vocab, d)
        self.pos = nn.Embedding(max_len, d)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.tok(ids) + self.pos(torch.arange(ids.shape[1]))


@dataclass
class TinyConfig:
    d: int = 32
    n_layers: int = 2
    n_heads: int = 2
    max_len: int = 16


class TinyTransformer(nn.Module):
    """Causal LM: embed -> blocks (attn, mlp, resid hook points) -> final norm -> logits."""

    def __init__(self, vocab: int, config: TinyConfig | None = None) -> None:
        super().__init__()
        c = config or TinyConfig()
        self.config = c
        self.embed = _Embed(vocab, c.d, c.max_len)
        self.layers = nn.ModuleList(_Block(c.d, c.n_heads) for _ in range(c.n_layers))
        self.ln_f = nn.LayerNorm(c.d)
        self.unembed = nn.Linear(c.d, vocab, bias=False)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.embed(ids)
        for layer in self.layers:
            x = layer(x)
        return self.unembed(self.ln_f(x))


def train_tiny_agreement(
    nouns: list[str], config: TinyConfig | None = None, steps: int = 400, seed: int = 0
) -> tuple[TinyTransformer, WordTokenizer]:
    """A tiny transformer trained to predict the agreeing verb in all four families."""
    torch.manual_seed(seed)
    tok = agreement_tokenizer(nouns)
    model = TinyTransformer(len(tok), config)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.01)
    batches = {}
    for f in FAMILIES:
        pairs = make_pairs(f, nouns, 256, seed=seed + 1)
        x = torch.tensor(
            [tok.encode(p.clean) for p in pairs] + [tok.encode(p.patch) for p in pairs]
        )
        y = torch.tensor(
            [tok.encode(p.clean_answer)[0] for p in pairs]
            + [tok.encode(p.patch_answer)[0] for p in pairs]
        )
        batches[f] = (x, y)
    for step in range(steps):
        x, y = batches[FAMILIES[step % len(FAMILIES)]]
        idx = torch.randint(0, len(x), (64,))
        loss = nn.functional.cross_entropy(model(x[idx])[:, -1], y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    model.requires_grad_(False)
    return model, tok


PAD = "<pad>"


def bios_tokenizer(seed: int = 0) -> WordTokenizer:
    """A word tokenizer covering every word the biography generator writes, plus PAD."""
    from methods.circuits.biographies import biographies

    words = {PAD}
    for p in (0, 1):
        for g in (0, 1):
            for bio in biographies(400, p, g, seed=seed):
                words.update(bio.text.split())
    return WordTokenizer(sorted(words))


def train_tiny_lm(
    texts: list[str],
    tok: WordTokenizer,
    config: TinyConfig | None = None,
    steps: int = 300,
    seed: int = 0,
) -> TinyTransformer:
    """A tiny causal LM trained by next-word prediction on `texts` (truncated to max_len)."""
    if not texts:
        raise ValueError("texts is empty: the tiny LM needs training text")
    torch.manual_seed(seed)
    model = TinyTransformer(len(tok), config)
    T = model.config.max_len
    rows = [tok.encode(t)[:T] for t in texts]
    rows = [r for r in rows if len(r) == T]
    if not rows:
        raise ValueError(f"no text is at least max_len={T} words long")
    data = torch.tensor(rows)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.01)
    for _ in range(steps):
        x = data[torch.randint(0, len(data), (32,))]
        logits = model(x[:, :-1])
        loss = nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), x[:, 1:].reshape(-1)
        )
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    model.requires_grad_(False)
    return model
