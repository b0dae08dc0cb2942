"""The DCQ estimate: bias detector and bias compensator counts to a contamination range."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

LETTERS = ("A", "B", "C", "D", "E")
POSITIONS = LETTERS[:4]  # where the original can sit; E is "none of the provided options"


@dataclass(frozen=True)
class ContaminationEstimate:
    """The range [lower, upper] of the fraction of a partition the model has seen, with its parts.

    `bdq` counts each letter in the bias detector quiz (perturbations only); `bcq[p]` counts each
    letter in the bias compensator quiz that put the original at position p.
    """

    n: int
    lower: float
    upper: float
    kappa: float
    best_position: str
    non_preferred: tuple[str, ...]
    bdq: dict[str, int]
    bcq: dict[str, dict[str, int]] = field(default_factory=dict)

    def describe(self) -> str:
        return (
            f"contamination in [{100 * self.lower:.1f}%, {100 * self.upper:.1f}%] over "
            f"{self.n} instances (original picked most at {self.best_position}; non-preferred "
            f"positions {', '.join(self.non_preferred)})"
        )


def count_letters(answers: Iterable[str]) -> dict[str, int]:
    """Count the letters A-E in a list of one-letter answers."""
    counts = dict.fromkeys(LETTERS, 0)
    for answer in answers:
        if answer not in counts:
            raise ValueError(f"answers must be letters A-E, got {answer!r}")
        counts[answer] += 1
    return counts


def non_preferred_positions(bdq: Mapping[str, int], n: int) -> tuple[str, ...]:
    """Positions A-D picked fewer than ceil(n/5) times in the BDQ (all of A-D if none is)."""
    chance = math.ceil(n / 5)
    chosen = tuple(p for p in POSITIONS if bdq.get(p, 0) < chance)
    return chosen or POSITIONS


def estimate(
    n: int, bdq: Mapping[str, int], bcq: Mapping[str, Mapping[str, int]]
) -> ContaminationEstimate:
    """The TACL estimate from the counts of both quizzes over `n` instances.

    Non-preferred positions are ranked by how often the original was picked there (c_p), ties by
    the BDQ count b_p ascending; p* is the first. upper = c_p*/n, kappa = (c_p* - b_p*)/(n - b_p*),
    lower = max(kappa, c_second/n) (c_second = 0 when only one position was quizzed).
    """
    if n <= 0:
        raise ValueError(f"n must be a positive number of instances, got {n}")
    _check_counts("bdq", bdq, n)
    expected = non_preferred_positions(bdq, n)
    if tuple(sorted(bcq)) != expected:
        raise ValueError(
            f"bcq must hold one quiz per non-preferred position {list(expected)}, "
            f"got positions {sorted(bcq)}"
        )
    for p, counts in bcq.items():
        _check_counts(f"bcq[{p!r}]", counts, n)
    ranked = sorted(expected, key=lambda p: (-bcq[p][p], bdq.get(p, 0)))
    best = ranked[0]
    c_best, b_best = bcq[best][best], bdq.get(best, 0)
    c_second = bcq[ranked[1]][ranked[1]] if len(ranked) > 1 else 0
    kappa = (c_best - b_best) / (n - b_best) if n > b_best else 0.0
    upper = c_best / n
    lower = max(kappa, c_second / n)
    return ContaminationEstimate(
        n=n,
        lower=lower,
        upper=upper,
        kappa=kappa,
        best_position=best,
        non_preferred=expected,
        bdq={k: int(bdq.get(k, 0)) for k in LETTERS},
        bcq={p: {k: int(bcq[p].get(k, 0)) for k in LETTERS} for p in expected},
    )


def _check_counts(name: str, counts: Mapping[str, int], n: int) -> None:
    unknown = set(counts) - set(LETTERS)
    if unknown:
        raise ValueError(f"{name} must count letters A-E only, got {sorted(unknown)}")
    if any(v < 0 for v in counts.values()) or sum(counts.values()) != n:
        raise ValueError(
            f"{name} must hold non-negative counts summing to n={n}, got {dict(counts)}"
        )
