"""The SHIFT experiment in two steps, so a person can judge in between: `propose` (probe,
attribution, evidence, an automatic judge's proposal) and `evaluate` (ablate the chosen features,
retrain, and score against the paper's baselines: concept-bottleneck probe, random ablation,
feature and neuron skylines, and the oracle probe trained on balanced data)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from methods.circuits.biographies import BiasSplits
from methods.circuits.judge import FeatureEvidence, Judge, Verdict, feature_evidence
from methods.circuits.sae import IdentityDictionary
from methods.circuits.shift import (
    Accuracy,
    BioBatch,
    Feature,
    Probe,
    ablation_edits,
    accuracy,
    encode_bios,
    feature_effects,
    pooled,
    top_features,
    train_probe,
)

Progress = Callable[[float, str], None]

# Concepts for the concept-bottleneck probe: what a designer who knows the task (and wants no
# gender in it) would list. Each is embedded by the model itself at the probe layer.
CONCEPTS = [
    "medicine",
    "health",
    "care",
    "patients",
    "hospital",
    "clinic",
    "nursing",
    "doctors",
    "illness",
    "treatment",
    "university",
    "students",
    "teaching",
    "lectures",
    "research",
    "science",
    "college",
    "campus",
    "books",
    "exams",
    "family",
    "friends",
    "travel",
    "food",
    "music",
    "garden",
    "town",
    "weather",
    "sports",
    "history",
]


@dataclass
class ShiftConfig:
    """Sizes of one SHIFT run. Defaults follow the paper where it says, scaled for a CPU."""

    hook: str = "resid_6"  # the probe reads this hook point, mean-pooled
    n_attribution: int = 100  # training bios for IG (the paper's 100)
    n_top: int = 50  # features shown to the judge
    ig_steps: int = 10
    probe_epochs: int = 20
    batch_size: int = 32
    skylines: bool = True  # the feature and neuron skylines cost one IG run each
    # The concept-bottleneck probe's concepts, as texts the model embeds; empty skips it.
    concepts: tuple[str, ...] = tuple(f"A text about {w}." for w in CONCEPTS)
    seed: int = 0


@dataclass
class Data:
    ambiguous: BioBatch
    balanced: BioBatch
    test: BioBatch


def encode_splits(splits: BiasSplits, encode: Callable[[str], list[int]], pad_id: int) -> Data:
    return Data(
        encode_bios(splits.ambiguous, encode, pad_id),
        encode_bios(splits.balanced, encode, pad_id),
        encode_bios(splits.test, encode, pad_id),
    )


@dataclass
class Proposal:
    """Everything `evaluate` needs, and what the judge decided."""

    probe: Probe
    x: dict[str, torch.Tensor]  # pooled activations: ambiguous, balanced, test
    evidence: list[FeatureEvidence]
    verdicts: list[Verdict]
    judge: str

    @property
    def ablate(self) -> list[Feature]:
        return [v.feature for v in self.verdicts if v.ablate]


def _sample(data: BioBatch, n: int, seed: int, labels: torch.Tensor | None = None) -> BioBatch:
    """`n` examples, half of each label: with unequal classes, a feature that shifts every
    logit by the same amount would get a signed effect it does not have."""
    labels = data.profession if labels is None else labels
    gen = torch.Generator().manual_seed(seed)
    picks = []
    for value in (0, 1):
        idx = (labels == value).nonzero()[:, 0]
        picks.append(idx[torch.randperm(len(idx), generator=gen)[: n // 2]])
    return data.subset(torch.cat(picks))


def propose(
    model: nn.Module,
    dictionaries: dict[str, nn.Module],
    data: Data,
    evidence_ids: torch.Tensor,
    decode: Callable[[list[int]], str],
    pad_id: int,
    judge: Judge,
    config: ShiftConfig | None = None,
    progress: Progress | None = None,
) -> Proposal:
    """Train the probe on the ambiguous split, attribute it, gather evidence and judge."""
    c = config or ShiftConfig()
    say = progress or (lambda f, m: None)
    x = {}
    for i, (name, batch) in enumerate(
        [("ambiguous", data.ambiguous), ("balanced", data.balanced), ("test", data.test)]
    ):
        say(0.05 + 0.15 * i, f"pooling {c.hook} over the {name} bios")
        x[name] = pooled(model, c.hook, batch, batch_size=c.batch_size)
    probe = train_probe(x["ambiguous"], data.ambiguous.profession, c.probe_epochs, seed=c.seed)
    say(0.5, f"integrated gradients over {c.n_attribution} training bios")
    attr = _sample(data.ambiguous, c.n_attribution, c.seed)
    effects = feature_effects(
        model, dictionaries, c.hook, probe, attr, pad_id=pad_id, steps=c.ig_steps
    )
    top = top_features(effects, c.n_top)
    say(0.8, f"top-activating tokens of {len(top)} features")
    evidence = feature_evidence(model, dictionaries, top, evidence_ids, decode)
    verdicts = judge(evidence)
    return Proposal(probe, x, evidence, verdicts, judge.name)


@dataclass
class ShiftResult:
    rows: dict[str, Accuracy]  # method -> accuracy on the balanced test
    ablated: list[Feature]
    judge: str
    skyline_features: list[Feature] = field(default_factory=list)
    skyline_neurons: list[Feature] = field(default_factory=list)


def evaluate(
    model: nn.Module,
    dictionaries: dict[str, nn.Module],
    data: Data,
    proposal: Proposal,
    ablate: list[Feature],
    encode: Callable[[str], list[int]],
    pad_id: int,
    judge: str,
    config: ShiftConfig | None = None,
    progress: Progress | None = None,
) -> ShiftResult:
    """Score SHIFT (ablating `ablate`) with and without retraining against the baselines."""
    c = config or ShiftConfig()
    say = progress or (lambda f, m: None)
    probe, x = proposal.probe, proposal.x
    test = data.test
    rows = {"Original": accuracy(probe.predict(x["test"]), test)}
    if c.concepts:
        rows["Concept bottleneck"] = _concept_bottleneck(model, x, data, encode, pad_id, c)

    def ablated_test(features: list[Feature], dicts: dict[str, nn.Module]) -> torch.Tensor:
        if not features:
            return x["test"]
        return pooled(model, c.hook, test, ablation_edits(dicts, features), c.batch_size)

    n = len(ablate)
    say(0.1, f"random ablation of {n} features")
    rows["Random"] = accuracy(
        probe.predict(ablated_test(_random_features(dictionaries, n, c.seed), dictionaries)), test
    )
    say(0.3, f"SHIFT: ablating {n} features")
    x_shift = ablated_test(ablate, dictionaries)
    rows["SHIFT"] = accuracy(probe.predict(x_shift), test)
    say(0.45, "SHIFT + retrain: the probe on ablated training bios")
    x_amb = (
        pooled(model, c.hook, data.ambiguous, ablation_edits(dictionaries, ablate), c.batch_size)
        if ablate
        else x["ambiguous"]
    )
    retrained = train_probe(x_amb, data.ambiguous.profession, c.probe_epochs, seed=c.seed)
    rows["SHIFT + retrain"] = accuracy(retrained.predict(x_shift), test)
    result = ShiftResult(rows, list(ablate), judge)
    if c.skylines and n:
        balanced = _sample(data.balanced, c.n_attribution, c.seed, data.balanced.gender)
        say(0.6, "feature skyline: top features for gender on balanced bios")
        feats = _gender_top(model, dictionaries, balanced, probe, pad_id, n, c)
        rows["Feature skyline"] = accuracy(probe.predict(ablated_test(feats, dictionaries)), test)
        say(0.8, "neuron skyline: top residual neurons for gender on balanced bios")
        neurons = {n: IdentityDictionary(_width(model, c.hook, data)) for n in dictionaries}
        top_n = _gender_top(model, neurons, balanced, probe, pad_id, n, c)
        rows["Neuron skyline"] = accuracy(probe.predict(ablated_test(top_n, neurons)), test)
        result.skyline_features, result.skyline_neurons = feats, top_n
    oracle = train_probe(x["balanced"], data.balanced.profession, c.probe_epochs, seed=c.seed)
    rows["Oracle"] = accuracy(oracle.predict(x["test"]), test)
    return result


def _width(model: nn.Module, hook: str, data: Data) -> int:
    return int(pooled(model, hook, data.test.subset([0]), batch_size=1).shape[-1])


def _gender_top(model, dicts, data, probe, pad_id, n, c: ShiftConfig) -> list[Feature]:
    effects = feature_effects(
        model, dicts, c.hook, probe, data, labels=data.gender, pad_id=pad_id, steps=c.ig_steps
    )
    return [f.feature for f in top_features(effects, n)]


def _random_features(dictionaries: dict[str, nn.Module], n: int, seed: int) -> list[Feature]:
    everything = [(name, i) for name, d in dictionaries.items() for i in range(d.n_latents)]
    gen = torch.Generator().manual_seed(seed + 1)
    return [everything[i] for i in torch.randperm(len(everything), generator=gen)[:n].tolist()]


def _concept_bottleneck(model, x, data: Data, encode, pad_id, c: ShiftConfig) -> Accuracy:
    """A probe on cosine similarities to concept embeddings (Yan et al. 2023), none of them
    gender, each embedded as the model's pooled activation of a short text about it."""
    concepts = encode_bios_texts(list(c.concepts), encode, pad_id)
    emb = pooled(model, c.hook, concepts, batch_size=c.batch_size)
    centre = x["ambiguous"].mean(0)

    def sims(acts: torch.Tensor) -> torch.Tensor:
        return nn.functional.cosine_similarity(
            (acts - centre)[:, None], (emb - centre)[None], dim=-1
        )

    probe = train_probe(
        sims(x["ambiguous"]), data.ambiguous.profession, c.probe_epochs, seed=c.seed
    )
    return accuracy(probe.predict(sims(x["test"])), data.test)


def encode_bios_texts(
    texts: list[str], encode: Callable[[str], list[int]], pad_id: int
) -> BioBatch:
    """Plain texts as a BioBatch with dummy labels (for pooling)."""
    from methods.circuits.biographies import Bio

    return encode_bios([Bio(t, 0, 0) for t in texts], encode, pad_id)


def table(rows: dict[str, Accuracy]) -> str:
    """The paper's layout: profession ↑ / gender ↓ / worst group ↑, in %."""
    lines = [f"{'method':20s} {'profession':>10s} {'gender':>8s} {'worst':>7s}"]
    for name, a in rows.items():
        lines.append(
            f"{name:20s} {100 * a.profession:10.1f} {100 * a.gender:8.1f} "
            f"{100 * a.worst_group:7.1f}"
        )
    return "\n".join(lines)
