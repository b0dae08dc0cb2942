"""A streaming activation buffer: tokenises text into fixed-length contexts, runs the model up to
the deepest requested hook point, and serves shuffled (batch, d) activations per hook point while
holding only `capacity` tokens, refilling as it drains."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import torch
from torch import nn

from methods.circuits.hooks import record


class ActivationBuffer:
    """Iterate for {hook name: (batch, d)} batches; each stored token is served `reuse` times."""

    def __init__(
        self,
        model: nn.Module,
        tokenize: Callable[[str], list[int]],
        texts: Iterable[str],
        names: list[str],
        context: int = 128,
        capacity: int = 16_384,
        batch_size: int = 1024,
        reuse: int = 1,
        forward_batch: int = 8,
        skip_first: bool = True,
        seed: int = 0,
    ) -> None:
        if not names:
            raise ValueError("names is empty: give at least one hook point")
        if batch_size > capacity:
            raise ValueError(f"batch_size {batch_size} exceeds capacity {capacity}")
        self.model, self.tokenize, self.names = model, tokenize, names
        self.context, self.capacity, self.batch_size = context, capacity, batch_size
        self.reuse, self.forward_batch = reuse, forward_batch
        # The first position is an attention sink with a norm tens of times the rest: kept in, it
        # would dominate the SAE's loss.
        self.skip_first = skip_first
        self._texts = iter(texts)
        self._pending: list[int] = []
        self._gen = torch.Generator().manual_seed(seed)
        self.tokens_read = 0
        self.exhausted = False

    def contexts(self, n: int) -> torch.Tensor | None:
        """Up to `n` contexts of `context` tokens, or None when the text has run out."""
        rows = []
        while len(rows) < n:
            while len(self._pending) < self.context:
                text = next(self._texts, None)
                if text is None:
                    self.exhausted = True
                    break
                self._pending += self.tokenize(text)
            if len(self._pending) < self.context:
                break
            rows.append(self._pending[: self.context])
            self._pending = self._pending[self.context :]
        return torch.tensor(rows) if rows else None

    def _fill(self) -> dict[str, torch.Tensor] | None:
        chunks: dict[str, list[torch.Tensor]] = {n: [] for n in self.names}
        got = 0
        while got < self.capacity:
            ids = self.contexts(self.forward_batch)
            if ids is None:
                break
            acts = record(self.model, self.names, ids, stop=True)
            for n in self.names:
                a = acts[n][:, 1:] if self.skip_first else acts[n]
                chunks[n].append(a.reshape(-1, a.shape[-1]).float())
            got += ids.shape[0] * (ids.shape[1] - int(self.skip_first))
        self.tokens_read += got
        if got < self.batch_size:
            return None
        return {n: torch.cat(c) for n, c in chunks.items()}

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        while True:
            store = self._fill()
            if store is None:
                return
            n = len(next(iter(store.values())))
            for _ in range(self.reuse):
                order = torch.randperm(n, generator=self._gen)
                for start in range(0, n - self.batch_size + 1, self.batch_size):
                    idx = order[start : start + self.batch_size]
                    yield {name: acts[idx] for name, acts in store.items()}
