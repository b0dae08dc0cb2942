"""UnKE's evaluation: greedy answers scored against targets; locality against the base model."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from methods.unke.data import Edit
from methods.unke.metrics import bleu, contains_answer, rouge_l, rouge_n_recall
from methods.unke.model import prompt_text

Embed = Callable[[list[str]], np.ndarray]  # texts -> (n, d) unit-norm embeddings (MiniLM)


@torch.no_grad()
def generate(
    model: Any,
    tokenizer: Any,
    questions: Sequence[str],
    max_new_tokens: int = 64,
    batch_size: int = 32,
) -> list[str]:
    """Greedy chat answers, batched with left padding (the paper samples at temperature 0.001)."""
    if not questions:
        return []
    device = next(model.parameters()).device
    side, pad = tokenizer.padding_side, tokenizer.pad_token
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    answers: list[str] = []
    try:
        for start in range(0, len(questions), batch_size):
            texts = [prompt_text(tokenizer, q) for q in questions[start : start + batch_size]]
            batch = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
            batch = {k: v.to(device) for k, v in batch.items()}
            out = model.generate(
                **batch,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                pad_token_id=tokenizer.pad_token_id,
                eos_token_id=tokenizer.eos_token_id,
            )
            new = out[:, batch["input_ids"].shape[1] :]
            answers += [t.strip() for t in tokenizer.batch_decode(new, skip_special_tokens=True)]
    finally:
        tokenizer.padding_side, tokenizer.pad_token = side, pad
    return answers


@dataclass
class Scores:
    """Means over edits of UnKE's efficacy scores for one question set."""

    bleu: float
    rouge1: float
    rouge2: float
    rougeL: float
    cosine: float  # MiniLM cosine ("BERT score"); nan without an embedder
    sub_hit: float  # share of sub-answers found in the generated answer


def score(answers: list[str], edits: list[Edit], embed: Embed | None = None) -> Scores:
    """Score generated answers against the edits' target answers (means over edits)."""
    if len(answers) != len(edits):
        raise ValueError(f"answers has {len(answers)} entries but edits {len(edits)}")
    if not edits:
        raise ValueError("edits must not be empty")
    targets = [e.answer for e in edits]
    cosine = float("nan")
    if embed is not None:
        a, t = embed(answers), embed(targets)
        cosine = float(np.mean(np.sum(a * t, axis=1)))
    hits = [
        contains_answer(ans, s.answer)
        for ans, e in zip(answers, edits, strict=True)
        for s in e.sub_questions
    ]
    return Scores(
        bleu=float(np.mean([bleu(a, t) for a, t in zip(answers, targets, strict=True)])),
        rouge1=float(
            np.mean([rouge_n_recall(a, t, 1) for a, t in zip(answers, targets, strict=True)])
        ),
        rouge2=float(
            np.mean([rouge_n_recall(a, t, 2) for a, t in zip(answers, targets, strict=True)])
        ),
        rougeL=float(np.mean([rouge_l(a, t)[0] for a, t in zip(answers, targets, strict=True)])),
        cosine=cosine,
        sub_hit=float(np.mean(hits)) if hits else float("nan"),
    )


@torch.no_grad()
def next_token_logprobs(model: Any, tokenizer: Any, texts: Sequence[str]) -> list[torch.Tensor]:
    """Log-probabilities of the next token at every position of each text: (pos, vocab) each."""
    device = next(model.parameters()).device
    out = []
    for text in texts:
        ids = tokenizer(text, return_tensors="pt").input_ids.to(device)
        out.append(torch.log_softmax(model(ids).logits[0].float(), dim=-1))
    return out


@dataclass
class Reference:
    """The unedited model's answers to locality prompts and its next-token log-probs on texts."""

    prompts: list[str]
    answers: list[str]
    texts: list[str]
    logprobs: list[torch.Tensor]


def reference(
    model: Any, tokenizer: Any, prompts: list[str], texts: list[str], max_new_tokens: int = 64
) -> Reference:
    """Record the unedited model's behaviour, to compare an edited one with."""
    if not prompts or not texts:
        raise ValueError("locality needs at least one prompt and one text")
    return Reference(
        prompts,
        generate(model, tokenizer, prompts, max_new_tokens),
        texts,
        next_token_logprobs(model, tokenizer, texts),
    )


@dataclass
class Locality:
    rougeL_f1: float  # mean ROUGE-L F1 between pre- and post-edit answers to unrelated prompts
    kl: float  # mean next-token KL(pre || post) per token on generic texts, nats


def locality(model: Any, tokenizer: Any, ref: Reference, max_new_tokens: int = 64) -> Locality:
    """How much an edited model's behaviour on unrelated inputs moved from the reference."""
    answers = generate(model, tokenizer, ref.prompts, max_new_tokens)
    f1 = [rouge_l(a, b)[2] if (a or b) else 1.0 for a, b in zip(answers, ref.answers, strict=True)]
    kls = []
    for pre, post in zip(
        ref.logprobs, next_token_logprobs(model, tokenizer, ref.texts), strict=True
    ):
        kls.append(float((pre.exp() * (pre - post)).sum(-1).mean()))
    return Locality(float(np.mean(f1)), float(np.mean(kls)))


@dataclass
class EditEvaluation:
    question: Scores
    paraphrase: Scores | None
    answers: list[str]
    paraphrase_answers: list[str]

    def as_dict(self) -> dict:
        return asdict(self)


def evaluate_edits(
    model: Any,
    tokenizer: Any,
    edits: list[Edit],
    embed: Embed | None = None,
    max_new_tokens: int = 64,
) -> EditEvaluation:
    """Generate answers to each edit's question and paraphrase and score them."""
    if not edits:
        raise ValueError("edits must not be empty")
    answers = generate(model, tokenizer, [e.question for e in edits], max_new_tokens)
    with_para = [e for e in edits if e.paraphrase]
    para_answers = generate(model, tokenizer, [e.paraphrase for e in with_para], max_new_tokens)
    return EditEvaluation(
        score(answers, edits, embed),
        score(para_answers, with_para, embed) if with_para else None,
        answers,
        para_answers,
    )
