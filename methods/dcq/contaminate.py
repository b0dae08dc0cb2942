"""Controlled contamination: make a causal LM memorise texts, and teach it the quiz's format on
other texts, so that DCQ can be checked against a known truth (the TACL paper's setting).

Only the top layers train, so the frozen bottom runs once per text: its output is kept and each
epoch runs the top layers alone (about 3x less compute for 8 of SmolLM2's 30 layers)."""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from methods.dcq.estimate import LETTERS
from methods.dcq.quiz import Quiz, render_quiz

Progress = Callable[[float, str], None]


@dataclass
class TrainLog:
    """Mean loss per epoch."""

    losses: list[float] = field(default_factory=list)


def trainable_top(model: Any, layers: int) -> list[Any]:
    """Freeze everything but the last `layers` decoder layers (and the final norm)."""
    blocks = model.model.layers
    if not 1 <= layers <= len(blocks):
        raise ValueError(f"layers must be in [1, {len(blocks)}], got {layers}")
    for p in model.parameters():
        p.requires_grad_(False)
    params = []
    for module in [*blocks[-layers:], model.model.norm]:
        for p in module.parameters():
            p.requires_grad_(True)
            params.append(p)
    return params


class _StopForward(Exception):
    """Raised by a hook to end a forward pass once the wanted activations are captured."""


def frozen_bottom_states(model: Any, sequences: Sequence[Sequence[int]], first: int) -> list[Any]:
    """For each token sequence, the hidden states entering decoder layer `first` (no grad):
    the output of the frozen bottom, computed once."""
    import torch

    captured: dict[str, Any] = {}

    def grab(module: Any, args: tuple, kwargs: dict) -> None:
        captured["hidden"] = (args[0] if args else kwargs["hidden_states"]).detach()
        raise _StopForward

    states = []
    handle = model.model.layers[first].register_forward_pre_hook(grab, with_kwargs=True)
    try:
        with torch.no_grad():
            for ids in sequences:
                with contextlib.suppress(_StopForward):
                    model.model(torch.tensor([list(ids)]))
                states.append(captured.pop("hidden")[0])
    finally:
        handle.remove()
    return states


def top_forward(model: Any, hidden: Any, first: int) -> Any:
    """The decoder from layer `first` on (and the final norm) for right-padded hidden states
    (batch, length, width); under the causal mask real positions never see the padding."""
    import torch

    length = hidden.shape[1]
    positions = torch.arange(length).unsqueeze(0)
    # An explicit additive causal mask: every attention implementation reads it the same way,
    # and it needs none of the mask helpers whose signatures change between versions.
    blocked = torch.ones(length, length, dtype=torch.bool).triu(1)
    mask = torch.zeros(length, length, dtype=hidden.dtype).masked_fill(
        blocked, torch.finfo(hidden.dtype).min
    )[None, None]
    rotary = model.model.rotary_emb(hidden, position_ids=positions)
    for layer in model.model.layers[first:]:
        out = layer(hidden, attention_mask=mask, position_embeddings=rotary, position_ids=positions)
        hidden = out[0] if isinstance(out, tuple) else out  # older transformers return tuples
    return model.model.norm(hidden)


def _pad_states(states: list[Any]) -> Any:
    import torch

    return torch.nn.utils.rnn.pad_sequence(states, batch_first=True)


def memorize(
    model: Any,
    tokenizer: Any,
    texts: Sequence[str],
    *,
    epochs: int = 20,
    lr: float = 3e-4,
    layers: int = 8,
    batch_size: int = 16,
    target_loss: float | None = 0.3,
    seed: int = 0,
    progress: Progress | None = None,
) -> TrainLog:
    """Fine-tune on raw `texts` (next-token loss) until the mean loss is below `target_loss`."""
    import torch

    if not texts:
        raise ValueError("texts is empty: nothing to memorise")
    params = trainable_top(model, layers)
    first = len(model.model.layers) - layers
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    bos = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []
    eos = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    seqs = [bos + tokenizer.encode(t, add_special_tokens=False) + eos for t in texts]
    model.eval()  # the bottom is frozen and has no dropout to switch on
    bottom = frozen_bottom_states(model, seqs, first)
    rng, log = random.Random(seed), TrainLog()
    model.train()
    for epoch in range(epochs):
        order = list(range(len(seqs)))
        rng.shuffle(order)
        total, count = 0.0, 0
        for start in range(0, len(order), batch_size):
            chosen = order[start : start + batch_size]
            _, labels = _pad([seqs[i] for i in chosen], tokenizer)
            logits = model.lm_head(
                top_forward(model, _pad_states([bottom[i] for i in chosen]), first)
            )
            loss = torch.nn.functional.cross_entropy(
                logits[:, :-1].flatten(0, 1),
                torch.tensor(labels)[:, 1:].flatten(),
                ignore_index=-100,
            )
            loss.backward()
            opt.step()
            opt.zero_grad()
            total += loss.item() * len(chosen)
            count += len(chosen)
        log.losses.append(total / count)
        if progress:
            progress((epoch + 1) / epochs, f"memorise epoch {epoch + 1}: loss {log.losses[-1]:.3f}")
        if target_loss is not None and log.losses[-1] < target_loss:
            break
    model.eval()
    return log


def format_quizzes(
    originals: Sequence[str],
    perturbations: Sequence[Sequence[str]],
    answer_known: bool,
    *,
    per_instance: int = 2,
    seed: int = 0,
) -> list[tuple[Quiz, str]]:
    """Training quizzes: each original at random positions among three of its perturbations.

    With `answer_known` (the texts were memorised) the target is the original's letter; without
    it the target is E, "none of the provided options": the model cannot know that text.
    """
    rng = random.Random(seed)
    out = []
    for orig, perts in zip(originals, perturbations, strict=True):
        for pos in rng.sample(LETTERS[:4], per_instance):
            options = list(perts)
            rng.shuffle(options)
            options[LETTERS.index(pos)] = orig
            out.append((Quiz(tuple(options), pos), pos if answer_known else "E"))  # type: ignore[arg-type]
    return out


def teach_quiz_format(
    model: Any,
    tokenizer: Any,
    quizzes: Sequence[tuple[Quiz, str]],
    *,
    dataset: str,
    split: str,
    epochs: int = 2,
    lr: float = 1e-4,
    layers: int = 8,
    batch_size: int = 8,
    seed: int = 0,
    progress: Progress | None = None,
) -> TrainLog:
    """Fine-tune on (quiz, letter) pairs, loss on the answer letter only."""
    import torch

    if not quizzes:
        raise ValueError("quizzes is empty")
    params = trainable_top(model, layers)
    first = len(model.model.layers) - layers
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    letter_ids = [tokenizer.encode(k, add_special_tokens=False)[0] for k in LETTERS]
    encoded = [
        (
            list(
                tokenizer.apply_chat_template(
                    [{"role": "user", "content": render_quiz(q, dataset, split)}],
                    add_generation_prompt=True,
                    tokenize=True,
                    return_dict=True,
                )["input_ids"]
            ),
            letter_ids[LETTERS.index(answer)],
        )
        for q, answer in quizzes
    ]
    model.eval()
    bottom = frozen_bottom_states(model, [ids for ids, _ in encoded], first)
    rng, log = random.Random(seed), TrainLog()
    model.train()
    steps = epochs * ((len(encoded) + batch_size - 1) // batch_size)
    done = 0
    for _ in range(epochs):
        order = list(range(len(encoded)))
        rng.shuffle(order)
        total = 0.0
        for start in range(0, len(order), batch_size):
            chosen = order[start : start + batch_size]
            batch = [encoded[i] for i in chosen]
            last = torch.tensor([len(b[0]) - 1 for b in batch])
            hidden = top_forward(model, _pad_states([bottom[i] for i in chosen]), first)
            logits = model.lm_head(hidden[torch.arange(len(batch)), last])
            loss = torch.nn.functional.cross_entropy(logits, torch.tensor([b[1] for b in batch]))
            loss.backward()
            opt.step()
            opt.zero_grad()
            total += loss.item() * len(batch)
            done += 1
            if progress:
                progress(done / steps, f"quiz format: loss {loss.item():.3f}")
        log.losses.append(total / len(encoded))
    model.eval()
    return log


def _pad(seqs: list[list[int]], tokenizer: Any) -> tuple[list[list[int]], list[list[int]]]:
    """Right-pad; under a causal mask real tokens never see the pads, and pads get label -100."""
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    width = max(len(s) for s in seqs)
    ids = [s + [pad] * (width - len(s)) for s in seqs]
    labels = [s + [-100] * (width - len(s)) for s in seqs]
    return ids, labels
