"""Judges for SHIFT: who decides which features are task-irrelevant, from each feature's evidence
(its top-activating tokens and contexts). A person (a label file, or keep/ablate edits in the
agent's approval dialog), an LLM given the same evidence, or a lexicon proxy: ablate a feature
when at least 60 % of its top-20 activating tokens are gender words."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

import torch
from torch import nn

from methods.circuits.biographies import gender_lexicon
from methods.circuits.render import top_contexts
from methods.circuits.shift import Feature, FeatureEffect
from methods.llm import LLM


@dataclass
class FeatureEvidence:
    """What a judge sees about one feature."""

    feature: Feature
    effect: float
    tokens: list[str]  # the top-activating tokens, strongest first
    contexts: list[str]  # a few contexts, the activating token in [brackets]

    @property
    def id(self) -> str:
        return f"{self.feature[0]}/{self.feature[1]}"


@dataclass
class Verdict:
    feature: Feature
    ablate: bool
    judge: str  # "person", "llm" or "lexicon"
    reason: str

    @property
    def id(self) -> str:
        return f"{self.feature[0]}/{self.feature[1]}"


class Judge(Protocol):
    name: str

    def __call__(self, evidence: list[FeatureEvidence]) -> list[Verdict]: ...


@torch.no_grad()
def feature_evidence(
    model: nn.Module,
    dictionaries: dict[str, nn.Module],
    features: list[FeatureEffect],
    contexts: torch.Tensor,
    decode: Callable[[list[int]], str],
    k: int = 20,
    n_contexts: int = 4,
) -> list[FeatureEvidence]:
    """Each feature's top-`k` activating tokens (and `n_contexts` contexts) over `contexts`."""
    if not features:
        raise ValueError("features is empty: attribute the probe first")
    found = top_contexts(model, dictionaries, [f.feature for f in features], contexts, decode, k=k)
    out = []
    for f in features:
        ctx = found[f.id]
        out.append(
            FeatureEvidence(
                f.feature, f.effect, [c.token for c in ctx], [c.text for c in ctx[:n_contexts]]
            )
        )
    return out


def _parse_id(text: str) -> Feature:
    name, _, idx = text.partition("/")
    if not name or not idx.isdigit():
        raise ValueError(f"feature {text!r} must be 'hook/index', e.g. 'resid_5/123'")
    return name, int(idx)


@dataclass
class LexiconJudge:
    """Ablate a feature when at least `threshold` of its top tokens are in `words`."""

    words: frozenset[str] = frozenset(gender_lexicon())
    threshold: float = 0.6
    name: str = "lexicon"

    def __call__(self, evidence: list[FeatureEvidence]) -> list[Verdict]:
        out = []
        for e in evidence:
            hits = [t for t in e.tokens if t.strip().lower() in self.words]
            share = len(hits) / len(e.tokens) if e.tokens else 0.0
            out.append(
                Verdict(
                    e.feature,
                    share >= self.threshold,
                    self.name,
                    f"{len(hits)}/{len(e.tokens)} top tokens are gender words",
                )
            )
        return out


@dataclass
class LabelFileJudge:
    """A person's decisions: a JSON file {"resid_5/123": "ablate" | "keep", ...} covering every
    feature shown."""

    path: Path
    name: str = "person"

    def __call__(self, evidence: list[FeatureEvidence]) -> list[Verdict]:
        labels = read_labels(self.path)
        missing = [e.id for e in evidence if e.id not in labels]
        if missing:
            raise KeyError(
                f"label file {self.path} has no decision for {missing[:5]}"
                f"{' ...' if len(missing) > 5 else ''}: label every feature 'ablate' or 'keep'"
            )
        return [Verdict(e.feature, labels[e.id], self.name, "label file") for e in evidence]


def read_labels(path: str | Path) -> dict[str, bool]:
    """{feature id: ablate?} from a label file; values must be 'ablate' or 'keep'."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"label file {path} does not exist")
    data = json.loads(path.read_text())
    if not isinstance(data, dict):
        raise ValueError(f"label file {path} must hold a JSON object of feature: decision")
    out = {}
    for key, value in data.items():
        _parse_id(key)
        if value not in ("ablate", "keep"):
            raise ValueError(f"label file {path}: {key} is {value!r}; expected 'ablate' or 'keep'")
        out[key] = value == "ablate"
    return out


_VERDICT_SCHEMA = {
    "type": "object",
    "properties": {
        "task_irrelevant": {"type": "boolean"},
        "reason": {"type": "string", "maxLength": 200},
    },
    "required": ["task_irrelevant", "reason"],
}


@dataclass
class LLMJudge:
    """Asks an LLM, per feature, whether it tracks something other than the task (gender)."""

    llm: LLM
    task: str = "whether a biography is about a nurse or a professor"
    name: str = "llm"

    def __call__(self, evidence: list[FeatureEvidence]) -> list[Verdict]:
        out = []
        for e in evidence:
            prompt = (
                f"A classifier decides {self.task}. One of its internal features fires most "
                f"strongly on these tokens: {', '.join(repr(t) for t in e.tokens[:20])}.\n"
                f"Example contexts (the token in brackets):\n"
                + "\n".join(f"- {c}" for c in e.contexts)
                + "\nIs this feature about gender or another signal irrelevant to the task, so "
                "that it should be removed? Reply in JSON with task_irrelevant and reason."
            )
            reply = self.llm.chat(
                [{"role": "user", "content": prompt}], schema=_VERDICT_SCHEMA, max_tokens=80
            )
            parsed = reply.parsed
            if hasattr(parsed, "model_dump"):
                parsed = parsed.model_dump()
            if not isinstance(parsed, dict) or "task_irrelevant" not in parsed:
                raise ValueError(f"the LLM judge's reply for {e.id} has no verdict: {reply.text!r}")
            out.append(
                Verdict(
                    e.feature, bool(parsed["task_irrelevant"]), self.name, str(parsed["reason"])
                )
            )
        return out


def with_overrides(
    verdicts: list[Verdict], ablate: list[str] | None = None, keep: list[str] | None = None
) -> list[Verdict]:
    """A person's edits on a judge's verdicts: features in `ablate` or `keep` are decided by the
    person, the rest keep the judge's verdict."""
    ablate_set, keep_set = set(ablate or []), set(keep or [])
    both = ablate_set & keep_set
    if both:
        raise ValueError(f"features {sorted(both)} are both in ablate and keep")
    known = {v.id for v in verdicts}
    unknown = sorted((ablate_set | keep_set) - known)
    if unknown:
        raise KeyError(f"features {unknown[:5]} were not among the judged features")
    out = []
    for v in verdicts:
        if v.id in ablate_set or v.id in keep_set:
            out.append(Verdict(v.feature, v.id in ablate_set, "person", "edited by a person"))
        else:
            out.append(v)
    return out


def evidence_json(evidence: list[FeatureEvidence], verdicts: list[Verdict]) -> list[dict]:
    by_id = {v.id: v for v in verdicts}
    return [
        {
            "id": e.id,
            **asdict(e),
            **{k: v for k, v in asdict(by_id[e.id]).items() if k != "feature"},
        }
        for e in evidence
    ]
