"""Run DCQ on a partition: the bias detector quiz, the bias compensator quizzes, the estimate."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from methods.dcq.data import Instance
from methods.dcq.estimate import (
    LETTERS,
    ContaminationEstimate,
    count_letters,
    estimate,
    non_preferred_positions,
)
from methods.dcq.quiz import bias_compensator_quiz, bias_detector_quiz
from methods.dcq.takers import QuizTaker

Progress = Callable[[float, str], None]


@dataclass
class DCQReport:
    """One partition's result: the estimate, every answer, and a few example items."""

    dataset: str
    split: str
    taker: str
    estimate: ContaminationEstimate
    bdq_answers: list[str]
    bcq_answers: dict[str, list[str]]
    examples: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        return f"{self.taker} on {self.dataset} ({self.split}): {self.estimate.describe()}"

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2), encoding="utf-8")
        return path


def run_dcq(
    instances: Sequence[Instance],
    perturbations: Sequence[Sequence[Instance]],
    taker: QuizTaker,
    *,
    dataset: str,
    split: str,
    n_examples: int = 3,
    progress: Progress | None = None,
) -> DCQReport:
    """Quiz `taker` on `instances` (each with its 4 perturbations) and estimate contamination."""
    if not instances:
        raise ValueError("instances is empty: nothing to quiz")
    if len(perturbations) != len(instances):
        raise ValueError(
            f"perturbations must have one list per instance ({len(instances)}), "
            f"got {len(perturbations)}"
        )
    originals = [inst.render() for inst in instances]
    perts = [[p.render() for p in ps] for ps in perturbations]
    n = len(instances)
    report = progress or (lambda f, m: None)

    report(0.0, "bias detector quiz")
    bdq_quizzes = [bias_detector_quiz(p, inst.id) for p, inst in zip(perts, instances, strict=True)]
    bdq_answers = _answer(taker, bdq_quizzes, dataset, split)
    bdq = count_letters(bdq_answers)
    positions = non_preferred_positions(bdq, n)

    bcq_answers: dict[str, list[str]] = {}
    for i, pos in enumerate(positions):
        report((i + 1) / (len(positions) + 1), f"bias compensator quiz at {pos}")
        quizzes = [
            bias_compensator_quiz(o, p, pos, inst.id)
            for o, p, inst in zip(originals, perts, instances, strict=True)
        ]
        bcq_answers[pos] = _answer(taker, quizzes, dataset, split)
    bcq = {pos: count_letters(a) for pos, a in bcq_answers.items()}
    result = estimate(n, bdq, bcq)
    examples = [
        {
            "id": instances[i].id,
            "original": originals[i],
            "perturbations": perts[i],
            "bdq_answer": bdq_answers[i],
            "bcq_answers": {pos: a[i] for pos, a in bcq_answers.items()},
        }
        for i in range(min(n_examples, n))
    ]
    report(1.0, "done")
    return DCQReport(dataset, split, taker.name, result, bdq_answers, bcq_answers, examples)


def _answer(taker: QuizTaker, quizzes: list, dataset: str, split: str) -> list[str]:
    answers = taker.answer(quizzes, dataset, split)
    if len(answers) != len(quizzes) or any(a not in LETTERS for a in answers):
        raise ValueError(
            f"taker {taker.name} must answer each of {len(quizzes)} quizzes with a letter A-E"
        )
    return list(answers)


def plot_report(report: DCQReport, path: str | Path) -> Path:
    """Bars of the letter counts of the BDQ and of each BCQ, with the range in the title (PNG)."""
    from PIL import Image, ImageDraw

    est = report.estimate
    panels = [("BDQ", est.bdq)] + [(f"BCQ {p}", c) for p, c in est.bcq.items()]
    pw, height, top, bottom = 170, 300, 50, 40
    img = Image.new("RGB", (pw * len(panels) + 20, height), "white")
    draw = ImageDraw.Draw(img)
    draw.text(
        (10, 8),
        f"{report.dataset} ({report.split}), {report.taker}: "
        f"[{100 * est.lower:.1f}%, {100 * est.upper:.1f}%], n={est.n}",
        fill="black",
    )
    span = height - top - bottom
    for k, (title, counts) in enumerate(panels):
        x0 = 20 + k * pw
        draw.text((x0, top - 18), title, fill="black")
        for j, letter in enumerate(LETTERS):
            value = counts.get(letter, 0) / est.n
            quizzed = title.endswith(letter)
            colour = (214, 39, 40) if quizzed else (31, 119, 180)
            x = x0 + j * 28
            draw.rectangle([x, top + span * (1 - value), x + 22, top + span], fill=colour)
            draw.text((x + 7, top + span + 6), letter, fill="black")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)
    return path
