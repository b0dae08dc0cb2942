"""The quiz: the five-option prompt, the bias detector quiz and the bias compensator quizzes."""

from __future__ import annotations

from dataclasses import dataclass

from methods.dcq.estimate import POSITIONS

# The TACL paper's quiz, reworded: five options, one with the exact wording of the instance, and
# E to abstain. The part before the options is the same for every quiz of a partition, which
# lets a white-box taker compute it once.
QUIZ_HEAD = (
    "You are given a five-choice quiz. Your task is to select the option that matches, word for "
    "word, an instance from the {split} split of the {dataset} dataset.\n\n"
    "Follow these rules when you select the option:\n"
    "(1) Answer with a single option letter and nothing else.\n"
    '(2) If you do not know the dataset or the correct answer, select option "E) None of the '
    'provided options."\n\n'
    "Hint: all of the options below look alike in meaning, but ONLY one of them has the EXACT "
    "WORDING of the original instance.\n---\n"
)
QUIZ_TAIL = "E)\nNone of the provided options.\n---\nANSWER:"


@dataclass(frozen=True)
class Quiz:
    """One quiz: four option texts for A-D; `original_at` is where the original sits, if at all."""

    options: tuple[str, str, str, str]
    original_at: str | None
    instance_id: str = ""

    def __post_init__(self) -> None:
        if len(self.options) != 4:
            raise ValueError(f"options must hold 4 texts (A-D), got {len(self.options)}")
        if self.original_at is not None and self.original_at not in POSITIONS:
            raise ValueError(f"original_at must be one of A-D or None, got {self.original_at!r}")


def quiz_head(dataset: str, split: str) -> str:
    """The fixed part of the prompt, before the options."""
    if not dataset.strip() or not split.strip():
        raise ValueError("dataset and split must name the partition being tested (non-empty)")
    return QUIZ_HEAD.format(dataset=dataset, split=split)


def render_quiz(quiz: Quiz, dataset: str, split: str) -> str:
    """The full prompt the model answers."""
    body = "".join(f"{p})\n{text}\n\n" for p, text in zip(POSITIONS, quiz.options, strict=True))
    return quiz_head(dataset, split) + body + QUIZ_TAIL


def bias_detector_quiz(perturbations: list[str], instance_id: str = "") -> Quiz:
    """The BDQ item: the four perturbations at A-D, no original (the right answer is E)."""
    _check_four(perturbations)
    return Quiz(tuple(perturbations), None, instance_id)  # type: ignore[arg-type]


def bias_compensator_quiz(
    original: str, perturbations: list[str], position: str, instance_id: str = ""
) -> Quiz:
    """The BCQ item for `position`: the original replaces the perturbation that sat there."""
    _check_four(perturbations)
    if position not in POSITIONS:
        raise ValueError(f"position must be one of A-D, got {position!r}")
    options = list(perturbations)
    options[POSITIONS.index(position)] = original
    return Quiz(tuple(options), position, instance_id)  # type: ignore[arg-type]


def parse_letter(text: str) -> str:
    """The option letter a reply names: its first A-E standing alone ("B", "B)", "Answer: C")."""
    import re

    match = re.search(r"(?<![A-Za-z])([A-E])(?![A-Za-z])", text.strip())
    if match is None:
        raise ValueError(f"the reply names no option letter A-E: {text[:80]!r}")
    return match.group(1)


def _check_four(perturbations: list[str]) -> None:
    if len(perturbations) != 4:
        raise ValueError(f"perturbations must hold exactly 4 texts, got {len(perturbations)}")
