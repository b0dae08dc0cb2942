"""Simulated quiz takers: pick the original with probability c, else follow a positional prior."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from methods.dcq.estimate import LETTERS
from methods.dcq.quiz import Quiz

# What GPT-4's bias detector quizzes look like (card C2): A and E dominate.
DEFAULT_PRIOR = {"A": 0.4, "B": 0.2 / 3, "C": 0.2 / 3, "D": 0.2 / 3, "E": 0.4}


class SimulatedTaker:
    """Knows a fraction `c` of the instances: on each quiz that holds the original it picks it
    with probability c; otherwise (and always in the bias detector quiz) it draws from `prior`."""

    def __init__(self, c: float, prior: Mapping[str, float] | None = None, seed: int = 0) -> None:
        if not 0.0 <= c <= 1.0:
            raise ValueError(f"c must be a probability in [0, 1], got {c}")
        prior = dict(prior or DEFAULT_PRIOR)
        if set(prior) - set(LETTERS) or any(v < 0 for v in prior.values()):
            raise ValueError(f"prior must map letters A-E to non-negative weights, got {prior}")
        total = sum(prior.values())
        if total <= 0:
            raise ValueError("prior must have a positive total weight")
        self.c = c
        self.p = np.array([prior.get(k, 0.0) / total for k in LETTERS])
        self.rng = np.random.default_rng(seed)
        self.name = f"simulated(c={c})"

    def answer(self, quizzes: Sequence[Quiz], dataset: str, split: str) -> list[str]:
        out = []
        for quiz in quizzes:
            if quiz.original_at is not None and self.rng.random() < self.c:
                out.append(quiz.original_at)
            else:
                out.append(LETTERS[int(self.rng.choice(5, p=self.p))])
        return out
