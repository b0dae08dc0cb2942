"""Seeded research-assistant memory histories with questions and the ids of their evidence.

A history covers six weeks of work sessions. Each experiment leaves a trail in one session: maybe
a plan step and a user's chat turn, the tool's start and progress lines, the loaded data, the
finding, the saved outputs. Some findings are updated by a re-run days later. Chatter that has
nothing to do with any experiment (installs, disk checks, papers read) fills the rest, and
number-free reflections sum up a session's work.

The distractors are the ones a real history has: the same experiment's own bookkeeping (all the
words of the finding, none of its result), the same method on another model or dataset, the same
dataset under another method, sweeps over a setting (30% vs 50% pruning), and for updated facts
the stale value. Importances follow what a rater would give: findings and updates high, plans
and chat middling, bookkeeping and chatter low.

Questions come in three kinds. A single-evidence question paraphrases one experiment whose
finding was never updated (gold: the finding). A knowledge-update question asks for the current
value of an updated fact (gold: the newest version; stale: the older ones). A latest-run question
asks what the most recent run of a tool on a model found, without naming the dataset or setting
("What did the most recent DCQ run on Phi-2 find?"), as one asks an assistant about work in
progress; it is only asked where the history holds several such runs (gold: the newest result
among them). The first kind turns on relevance alone, the second on the newest version of a
fact, the third on recency among equally relevant results and on importance to put a result
above its own later bookkeeping ("Saved outputs to ..."): the three terms of the score.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np

from memory.records import Kind, NewMemory

HOUR = 3600.0
DAY = 24 * HOUR
DAYS = 42
START = 1_750_000_000.0  # a fixed epoch: histories are identical from run to run
NOISE_SHARE = 0.2  # memories unrelated to any experiment
UPDATED_SHARE = 0.15  # experiments re-run later with a changed result
MEMORIES_PER_EXPERIMENT = 5.3  # the expected trail length below, updates included

T = TypeVar("T")

LLMS = {  # model: number of layers
    "Llama-3-8B": 32,
    "Mistral-7B": 32,
    "Pythia-410M": 24,
    "Pythia-1.4B": 24,
    "GPT-2 small": 12,
    "Qwen2-1.5B": 28,
    "OLMo-7B": 32,
    "Gemma-2B": 18,
    "Phi-2": 32,
}
VISION = ["SqueezeNet", "ResNet-18", "ResNet-50", "MobileNetV2", "ViT-B/16", "EfficientNet-B0"]
TEXT_BENCHMARKS = [
    "GSM8K",
    "MMLU",
    "HellaSwag",
    "ARC-Challenge",
    "TruthfulQA",
    "BoolQ",
    "WinoGrande",
    "HumanEval",
    "MATH",
    "BBH",
]
IMAGE_DATASETS = ["ImageNet", "CIFAR-10", "CIFAR-100", "Tiny-ImageNet"]
CORPORA = ["OpenWebText", "the Pile", "C4", "WikiText-103"]
CONCEPTS = ["truthfulness", "sentiment", "negation", "gender", "toxicity", "syntactic depth"]
SHORTCUTS = {  # dataset: (spurious feature, models it is studied on)
    "Waterbirds": ("background", ["ResNet-50", "ViT-B/16"]),
    "CelebA": ("gender", ["ResNet-50", "ViT-B/16"]),
    "Bias-in-Bios": ("gender", ["BERT-base", "Pythia-410M"]),
    "MultiNLI": ("negation-word", ["BERT-base", "RoBERTa-base"]),
}
TASKS = ["IOI", "greater-than", "docstring completion", "factual recall", "induction"]
QUANT_SCHEMES = ["GPTQ", "AWQ", "round-to-nearest"]
PRUNING_CRITERIA = ["Taylor", "magnitude", "L1-norm"]


@dataclass
class Question:
    text: str
    kind: str  # "single", "update" or "latest"
    gold: str  # id of the memory that answers it (the newest version or run, for the others)
    stale: list[str] = field(default_factory=list)  # older versions of an updated fact
    age_hours: float = 0.0  # of the gold memory, when the question is asked


@dataclass
class History:
    memories: list[NewMemory]  # oldest first
    questions: list[Question]
    now: float  # when the questions are asked: an hour after the last session


@dataclass
class Experiment:
    """One tool run on one subject, with every text its trail and questions need."""

    tool: str  # e.g. "DCQ", "Taylor pruning"
    model: str  # the model it studies (the student, for distillation)
    subject: str  # e.g. "Llama-3-8B on GSM8K"
    setting: str  # e.g. "4 options, 200 questions"
    data: str  # what the tool loads
    finding: str
    updates: list[str]  # re-run results, used in order if the fact gets updated
    question: str
    update_question: str


class Draw:
    """Seeded choices, numbers and ids, so templates read as plain f-strings."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng

    def pick(self, items: Sequence[T]) -> T:
        return items[int(self.rng.integers(len(items)))]

    def uniform(self, low: float, high: float) -> float:
        return float(self.rng.uniform(low, high))

    def integer(self, low: int, high: int) -> int:
        return int(self.rng.integers(low, high + 1))

    def chance(self, p: float) -> bool:
        return bool(self.rng.random() < p)

    def job(self) -> str:
        return str(self.integer(1000, 9999))


# --- experiments, one generator per research tool ------------------------------------------
# Each returns the experiment's key (tool, model, data, setting), which the history keeps unique,
# and its texts. Numbers are drawn from ranges that are plausible for the tool.


def dcq(d: Draw) -> tuple[tuple, Experiment]:
    model, bench = d.pick(list(LLMS)), d.pick(TEXT_BENCHMARKS)
    options, n = d.pick([4, 5]), d.pick([100, 200, 300])
    v, v2, v3 = d.uniform(0.05, 0.7), d.uniform(0.05, 0.7), d.uniform(0.05, 0.7)
    finding = d.pick(
        [
            f"DCQ on {bench} with {model}: contamination estimate {v:.2f} "
            f"({options} options, {n} questions)",
            f"Data contamination quiz, {model} on {bench}: picked the verbatim option in "
            f"{100 * (v + 0.2) / 1.2:.0f}% of {n} questions; contamination estimate {v:.2f}",
        ]
    )
    return ("dcq", model, bench), Experiment(
        tool="DCQ",
        model=model,
        subject=f"{model} on {bench}",
        setting=f"{options} options, {n} questions",
        data=f"the {bench} test split ({n} questions)",
        finding=finding,
        updates=[
            f"Re-ran DCQ on {bench} with {model} using {options + 1} options: contamination "
            f"estimate now {v2:.2f}",
            f"DCQ re-run with paraphrased distractors for {model} on {bench}: contamination "
            f"estimate revised to {v3:.2f}",
        ],
        question=d.pick(
            [
                f"How contaminated is {bench} for {model} according to the DCQ quiz?",
                f"What contamination estimate did the quiz give for {model} on {bench}?",
                f"Has {model} memorised {bench}? What did DCQ say?",
            ]
        ),
        update_question=d.pick(
            [
                f"What is the latest DCQ contamination estimate for {model} on {bench}?",
                f"After the re-runs, how contaminated do we think {bench} is for {model}?",
            ]
        ),
    )


def pruning(d: Draw) -> tuple[tuple, Experiment]:
    model, data = d.pick(VISION), d.pick(IMAGE_DATASETS)
    criterion, pct = d.pick(PRUNING_CRITERIA), d.pick([10, 20, 30, 40, 50, 70])
    keep, dense = 100 - pct * d.uniform(0.02, 0.2), d.uniform(55, 95)
    finding = d.pick(
        [
            f"Pruning {model} by {pct}% ({criterion} criterion) kept {keep:.1f}% of its "
            f"{data} accuracy",
            f"{criterion} pruning, {pct}% of {model}'s filters removed: {data} top-1 "
            f"{dense * keep / 100:.1f}% (dense {dense:.1f}%)",
        ]
    )
    return ("prune", model, data, criterion, pct), Experiment(
        tool=f"{criterion} pruning",
        model=model,
        subject=f"{model} on {data}",
        setting=f"{pct}% sparsity",
        data=f"the {data} validation set",
        finding=finding,
        updates=[
            f"Re-ran {pct}% {criterion} pruning of {model} with {d.integer(2, 10)} epochs of "
            f"fine-tuning: now keeps {min(99.9, keep + d.uniform(0.5, 3)):.1f}% of {data} accuracy",
            f"Pruned {model} to {pct}% again ({criterion}, iterative schedule): {data} accuracy "
            f"retained is now {min(99.9, keep + d.uniform(1, 4)):.1f}%",
        ],
        question=d.pick(
            [
                f"How much of its {data} accuracy did {model} keep after {criterion} pruning of "
                f"{pct}% of its filters?",
                f"What happened to {model}'s {data} accuracy when we removed {pct}% of the "
                f"filters by {criterion} score?",
            ]
        ),
        update_question=f"What is our latest result for {pct}% {criterion} pruning of {model} on "
        f"{data}?",
    )


def sae(d: Draw) -> tuple[tuple, Experiment]:
    model = d.pick(list(LLMS))
    layer, features, corpus = (
        d.integer(0, LLMS[model] - 1),
        d.pick([4096, 8192, 16384]),
        d.pick(CORPORA),
    )
    loss, dead = d.uniform(0.02, 0.3), d.integer(1, 40)
    return ("sae", model, layer, features), Experiment(
        tool="sparse autoencoder training",
        model=model,
        subject=f"{model} layer {layer}",
        setting=f"{features} features",
        data=f"{d.integer(10, 200)}M tokens of {corpus} activations",
        finding=f"Sparse autoencoder on {model} layer {layer} ({features} features, trained on "
        f"{corpus}): reconstruction loss {loss:.3f}, {dead}% dead features",
        updates=[
            f"Retrained the {features}-feature SAE on {model} layer {layer} with a lower L1 "
            f"penalty: reconstruction loss now {loss * d.uniform(0.5, 0.9):.3f}, "
            f"{d.integer(1, 40)}% dead",
            f"SAE on {model} layer {layer} ({features} features) after resampling dead "
            f"features: reconstruction loss {loss * d.uniform(0.4, 0.8):.3f}",
        ],
        question=d.pick(
            [
                f"How well does the {features}-feature sparse autoencoder on {model} layer "
                f"{layer} reconstruct activations?",
                f"What reconstruction loss did the SAE with {features} features reach on layer "
                f"{layer} of {model}?",
            ]
        ),
        update_question=f"What is the current reconstruction loss of the {features}-feature SAE "
        f"on {model} layer {layer}?",
    )


def probe(d: Draw) -> tuple[tuple, Experiment]:
    model, concept = d.pick(list(LLMS)), d.pick(CONCEPTS)
    layer, acc = d.integer(0, LLMS[model] - 1), d.uniform(52, 97)
    finding = d.pick(
        [
            f"Linear probe for {concept} on {model} layer {layer}: {acc:.1f}% held-out accuracy",
            f"{concept.capitalize()} is linearly decodable from {model} layer {layer}: probe "
            f"accuracy {acc:.1f}%",
        ]
    )
    return ("probe", model, concept, layer), Experiment(
        tool="linear probe",
        model=model,
        subject=f"{concept} in {model} layer {layer}",
        setting="logistic regression, 5-fold",
        data=f"{d.integer(2, 20)}k labelled {concept} examples",
        finding=finding,
        updates=[
            f"Re-trained the {concept} probe on {model} layer {layer} with a balanced split: "
            f"accuracy now {min(99.0, acc + d.uniform(-8, 5)):.1f}%",
            f"{concept.capitalize()} probe on {model} layer {layer}, control task subtracted: "
            f"selectivity-adjusted accuracy {acc - d.uniform(3, 15):.1f}%",
        ],
        question=d.pick(
            [
                f"How well can a linear probe read {concept} from layer {layer} of {model}?",
                f"Is {concept} linearly represented at layer {layer} in {model}?",
            ]
        ),
        update_question=f"What is the latest {concept} probe accuracy on {model} layer {layer}?",
    )


def shift(d: Draw) -> tuple[tuple, Experiment]:
    data = d.pick(list(SHORTCUTS))
    shortcut, models = SHORTCUTS[data]
    model = d.pick(models)
    before, after = d.uniform(20, 60), d.uniform(60, 90)
    return ("shift", model, data), Experiment(
        tool="SHIFT",
        model=model,
        subject=f"{model} on {data}",
        setting=f"{d.integer(10, 80)} features ablated",
        data=f"the {data} training set",
        finding=f"SHIFT removed the {shortcut} shortcut from {model} on {data}: worst-group "
        f"accuracy {after:.1f}% (was {before:.1f}%)",
        updates=[
            f"Re-ran SHIFT on {model} for {data}, ablating {d.integer(5, 40)} more features: "
            f"worst-group accuracy now {min(95.0, after + d.uniform(-5, 6)):.1f}%",
            f"SHIFT on {model} ({data}) with retrained head: worst-group accuracy "
            f"{min(95.0, after + d.uniform(-4, 8)):.1f}%",
        ],
        question=f"Did SHIFT stop {model} from relying on the {shortcut} on {data}? What "
        f"worst-group accuracy did it get?",
        update_question=f"What is {model}'s worst-group accuracy on {data} after our latest "
        f"SHIFT run?",
    )


def quantization(d: Draw) -> tuple[tuple, Experiment]:
    model, bench = d.pick(list(LLMS)), d.pick(TEXT_BENCHMARKS)
    bits, scheme = d.pick([8, 4, 3]), d.pick(QUANT_SCHEMES)
    fp16 = d.uniform(30, 80)
    quantised = fp16 - d.uniform(0, 12) / bits * 3
    return ("quant", model, bench, bits, scheme), Experiment(
        tool=f"{scheme} quantization",
        model=model,
        subject=f"{model} on {bench}",
        setting=f"{bits}-bit",
        data=f"{bench} ({d.integer(200, 1500)} examples)",
        finding=f"{bits}-bit {scheme} quantization of {model}: {bench} accuracy {quantised:.1f}% "
        f"vs {fp16:.1f}% in fp16",
        updates=[
            f"Re-evaluated {bits}-bit {scheme} {model} on {bench} with the fixed prompt template: "
            f"accuracy now {quantised + d.uniform(-3, 4):.1f}%",
            f"{bits}-bit {scheme} {model}, {bench} rerun with calibration on {d.pick(CORPORA)}: "
            f"{quantised + d.uniform(-2, 5):.1f}% accuracy",
        ],
        question=d.pick(
            [
                f"How much {bench} accuracy does {model} lose with {bits}-bit {scheme} "
                f"quantization?",
                f"Does {scheme} at {bits} bits hurt {model} on {bench}?",
            ]
        ),
        update_question=f"What is the latest {bench} accuracy of {bits}-bit {scheme} {model}?",
    )


def patching(d: Draw) -> tuple[tuple, Experiment]:
    model, task = d.pick(list(LLMS)), d.pick(TASKS)
    layers = LLMS[model]

    def head() -> str:
        return f"{d.integer(0, layers - 1)}.{d.integer(0, 11)}"

    return ("patch", model, task), Experiment(
        tool="activation patching",
        model=model,
        subject=f"{model} on {task}",
        setting=f"{d.integer(100, 500)} prompt pairs",
        data=f"{task} prompt pairs",
        finding=f"Activation patching on {model} for {task}: head {head()} carries "
        f"{d.integer(15, 70)}% of the logit difference",
        updates=[
            f"Path patching on {model} for {task} revised the circuit: head {head()} now accounts "
            f"for {d.integer(15, 70)}% of the logit difference",
            f"Re-ran patching on {model} ({task}) with mean ablation: the key head is {head()}, "
            f"{d.integer(15, 70)}% of the effect",
        ],
        question=d.pick(
            [
                f"Which attention head matters most for {task} in {model}, according to "
                f"activation patching?",
                f"Where is the {task} circuit in {model}?",
            ]
        ),
        update_question=f"What is our current best account of the {task} circuit in {model}?",
    )


def lora(d: Draw) -> tuple[tuple, Experiment]:
    model, bench, rank = d.pick(list(LLMS)), d.pick(TEXT_BENCHMARKS), d.pick([4, 8, 16, 64])
    acc, epochs = d.uniform(30, 85), d.integer(1, 5)
    return ("lora", model, bench, rank), Experiment(
        tool="LoRA fine-tuning",
        model=model,
        subject=f"{model} on {bench}",
        setting=f"rank {rank}, {epochs} epochs",
        data=f"the {bench} training split",
        finding=f"LoRA rank {rank} fine-tune of {model} on {bench}: accuracy {acc:.1f}% after "
        f"{epochs} epochs",
        updates=[
            f"Re-ran the rank-{rank} LoRA on {model} for {bench} with learning rate "
            f"{d.pick(['1e-4', '3e-4', '5e-5'])}: accuracy now {acc + d.uniform(-4, 6):.1f}%",
            f"Rank-{rank} LoRA of {model} on {bench}, longer schedule: "
            f"{acc + d.uniform(-2, 8):.1f}% accuracy",
        ],
        question=f"What accuracy did the rank-{rank} LoRA fine-tune of {model} reach on {bench}?",
        update_question=f"What is the latest accuracy of {model} with the rank-{rank} LoRA on "
        f"{bench}?",
    )


def distillation(d: Draw) -> tuple[tuple, Experiment]:
    teacher, student = d.pick(["ResNet-50", "ViT-B/16", "EfficientNet-B0"]), d.pick(VISION[:4])
    data = d.pick(IMAGE_DATASETS)
    teacher_acc = d.uniform(70, 95)
    student_acc = teacher_acc - d.uniform(1, 12)
    return ("distill", teacher, student, data), Experiment(
        tool="distillation",
        model=student,
        subject=f"{teacher} into {student} on {data}",
        setting=f"temperature {d.pick([2, 4, 8])}",
        data=f"the {data} training set",
        finding=f"Distilling {teacher} into {student} on {data}: student reaches "
        f"{student_acc:.1f}% top-1 (teacher {teacher_acc:.1f}%)",
        updates=[
            f"Distillation of {teacher} into {student} on {data} with feature matching: student "
            f"now at {student_acc + d.uniform(-1, 4):.1f}% top-1",
            f"Re-ran {teacher} to {student} distillation on {data} for longer: "
            f"{student_acc + d.uniform(0, 5):.1f}% top-1",
        ],
        question=f"How close did {student} get to {teacher} when distilled on {data}?",
        update_question=f"What top-1 accuracy does the {student} distilled from {teacher} reach "
        f"on {data} now?",
    )


# How often each tool is used: the project is mostly about LLM evaluation and interpretability.
TOOLS: list[tuple[Callable[[Draw], tuple[tuple, Experiment]], float]] = [
    (dcq, 0.10),
    (pruning, 0.14),
    (sae, 0.14),
    (probe, 0.18),
    (shift, 0.04),
    (quantization, 0.14),
    (patching, 0.06),
    (lora, 0.12),
    (distillation, 0.08),
]


# --- memories in a session -------------------------------------------------------------------


@dataclass
class Session:
    start: float
    end: float


def sessions(d: Draw) -> list[Session]:
    """Work sessions over DAYS days: most days, one or two sessions of one to four hours."""
    out = []
    for day in range(DAYS):
        if not d.chance(0.75):
            continue
        for start_hour in [d.uniform(9, 11)] + ([d.uniform(14, 17)] if d.chance(0.5) else []):
            start = START + day * DAY + start_hour * HOUR
            out.append(Session(start, start + d.uniform(1, 4) * HOUR))
    return out


@dataclass
class Draft:
    """A memory before ids are assigned in time order."""

    text: str
    kind: Kind
    importance: int
    created: float
    role: str = ""  # "finding" or "update" for the memories that questions are about
    id: str = ""  # given once the history is sorted by time
    replaces: Draft | None = None  # the earlier version a re-run's result supersedes


def trail(e: Experiment, at: float, d: Draw) -> list[Draft]:
    """One experiment's memories, in order, starting at `at` and lasting up to an hour."""
    job = d.job()
    t = at
    out: list[Draft] = []

    def add(text: str, kind: Kind, importance: int, role: str = "") -> None:
        nonlocal t
        out.append(Draft(text, kind, importance, t, role))
        t += d.uniform(0.5, 12) * 60

    if d.chance(0.3):
        add(f"User asked about {e.tool} results for {e.subject}", Kind.CHAT, d.integer(2, 5))
    if d.chance(0.5):
        add(f"Plan: run {e.tool} on {e.subject} ({e.setting})", Kind.PLAN, d.integer(3, 5))
    add(f"Started {e.tool} for {e.subject} ({e.setting}); job {job}", Kind.ACTION, d.integer(1, 3))
    if d.chance(0.5):
        add(f"Loaded {e.data} for {e.tool}", Kind.TOOL_RESULT, d.integer(1, 2))
    for _ in range(d.integer(0, 2)):
        add(
            f"{e.tool} job {job} on {e.subject} is {d.integer(10, 95)}% done",
            Kind.OBSERVATION,
            d.integer(1, 2),
        )
    add(e.finding, Kind.TOOL_RESULT, d.integer(6, 9), role="finding")
    if d.chance(0.6):
        slug = e.subject.lower().replace(" ", "-").replace("/", "")
        add(
            f"Saved {e.tool} outputs for {e.subject} to runs/job-{job}/{slug}.json",
            Kind.ACTION,
            d.integer(1, 2),
        )
    return out


def update_trail(e: Experiment, text: str, at: float, d: Draw) -> list[Draft]:
    job = d.job()
    return [
        Draft(
            f"Started {e.tool} re-run for {e.subject}; job {job}", Kind.ACTION, d.integer(1, 3), at
        ),
        Draft(text, Kind.TOOL_RESULT, d.integer(7, 9), at + d.uniform(5, 50) * 60, role="update"),
    ]


CHATTER = [
    lambda d: (
        f"Installed {d.pick(['torch', 'transformers', 'datasets', 'einops'])} "
        f"{d.integer(0, 4)}.{d.integer(0, 40)}.{d.integer(0, 9)}"
    ),
    lambda d: f"Checked disk usage: {d.integer(5, 400)} GB free",
    lambda d: f"Cleared the CUDA cache; {d.uniform(2, 70):.1f} GB free on the GPU",
    lambda d: f"Read the abstract of '{d.pick(PAPERS)}'",
    lambda d: f"Set the random seed to {d.integer(0, 9999)}",
    lambda d: f"User said: {d.pick(['thanks', 'looks good', 'ok, continue', 'let me check'])}",
    lambda d: f"Listed files in runs/ ({d.integer(3, 300)} entries)",
    lambda d: f"Renamed the notes file to notes-{d.integer(1, 30)}.md",
]
PAPERS = [
    "Generative Agents: Interactive Simulacra of Human Behavior",
    "Towards Monosemanticity",
    "Interpretability in the Wild",
    "Time Travel in LLMs: Tracing Data Contamination",
    "Pruning Convolutional Neural Networks for Resource Efficient Inference",
    "LoRA: Low-Rank Adaptation of Large Language Models",
    "GPTQ: Accurate Post-Training Quantization",
    "Distilling the Knowledge in a Neural Network",
]


def chatter(at: float, d: Draw) -> Draft:
    return Draft(d.pick(CHATTER)(d), Kind.OBSERVATION, d.integer(1, 2), at)


def reflection(done: list[Experiment], at: float, d: Draw) -> Draft:
    """A number-free summary of a session: on topic, important, but never the answer."""
    a, b = d.pick(done), d.pick(done)
    text = d.pick(
        [
            f"Reflection: the {a.tool} results for {a.subject} and the {b.tool} results for "
            f"{b.subject} point the same way; worth writing up",
            f"Reflection: {a.tool} on {a.subject} needs a second look before we trust it",
            f"Reflection: today's {a.tool} and {b.tool} runs were consistent with earlier ones",
        ]
    )
    return Draft(text, Kind.REFLECTION, d.integer(6, 8), at)


# --- the whole history -----------------------------------------------------------------------


def generate(n_memories: int, n_single: int, n_update: int, seed: int) -> History:
    """A history of exactly n_memories memories, and up to the requested questions (as many
    latest-run questions as knowledge-update ones)."""
    d = Draw(np.random.default_rng(seed))
    plan = sessions(d)
    lengths = np.array([s.end - s.start for s in plan])
    n_experiments = round((1 - NOISE_SHARE) * n_memories / MEMORIES_PER_EXPERIMENT)
    drafts: list[Draft] = []
    threads: list[tuple[Experiment, list[Draft]]] = []  # an experiment and its versions
    per_session: dict[int, list[Experiment]] = {}
    for e in unique_experiments(n_experiments, d):
        s = int(d.rng.choice(len(plan), p=lengths / lengths.sum()))
        at = d.uniform(plan[s].start, max(plan[s].start, plan[s].end - HOUR))
        its = trail(e, at, d)
        versions = [x for x in its if x.role == "finding"]
        for text in e.updates[: updates_for(d)]:
            later = [i for i, x in enumerate(plan) if 1 <= (x.start - its[-1].created) / DAY <= 14]
            if not later:
                break
            s2 = d.pick(later)
            at = d.uniform(plan[s2].start, plan[s2].end)
            update = update_trail(e, text, at, d)
            # The agent links a re-run's result to the one it replaces (agents/graph.py).
            update[-1].replaces = versions[-1]
            its += update
            versions.append(update[-1])
        drafts += its
        threads.append((e, versions))
        per_session.setdefault(s, []).append(e)
    for s, done in per_session.items():
        if d.chance(0.5):
            drafts.append(reflection(done, plan[s].end, d))
    drafts = fit(drafts, n_memories, plan, d)
    drafts.sort(key=lambda x: x.created)
    for i, x in enumerate(drafts):
        x.id = f"m{i:05d}"
    memories = [
        NewMemory(
            x.text,
            x.kind,
            importance=x.importance,
            created=x.created,
            id=x.id,
            supersedes=[x.replaces.id] if x.replaces else [],
        )
        for x in drafts
    ]
    now = max(plan[-1].end, drafts[-1].created) + HOUR
    questions = make_questions(threads, now, n_single, n_update, d)
    questions += latest_run_questions(threads, now, n_update, d)
    return History(memories, questions, now)


def unique_experiments(n: int, d: Draw) -> list[Experiment]:
    tools, weights = zip(*TOOLS, strict=True)
    p = np.array(weights) / sum(weights)
    seen: set[tuple] = set()
    out: list[Experiment] = []
    for _ in range(n * 50):  # plenty of tries: the key space is several times n
        if len(out) == n:
            break
        key, e = tools[int(d.rng.choice(len(tools), p=p))](d)
        if key not in seen:
            seen.add(key)
            out.append(e)
    return out


def updates_for(d: Draw) -> int:
    """How many times a fact is re-run: mostly never, sometimes once, rarely twice."""
    if not d.chance(UPDATED_SHARE):
        return 0
    return 2 if d.chance(0.25) else 1


def fit(drafts: list[Draft], n: int, plan: list[Session], d: Draw) -> list[Draft]:
    """Pad with chatter in random sessions, or drop chatter-like bookkeeping, to reach n."""
    while len(drafts) < n:
        s = d.pick(plan)
        drafts.append(chatter(d.uniform(s.start, s.end), d))
    if len(drafts) > n:
        # Drop only low-importance bookkeeping, never a finding or an update.
        droppable = [i for i, x in enumerate(drafts) if not x.role and x.importance <= 2]
        drop = set(d.rng.choice(droppable, size=len(drafts) - n, replace=False).tolist())
        drafts = [x for i, x in enumerate(drafts) if i not in drop]
    return drafts


def make_questions(
    threads: list[tuple[Experiment, list[Draft]]],
    now: float,
    n_single: int,
    n_update: int,
    d: Draw,
) -> list[Question]:
    single = [(e, v) for e, v in threads if len(v) == 1]
    updated = [(e, v) for e, v in threads if len(v) > 1]
    picked_single = d.rng.permutation(len(single))[:n_single]
    picked_update = d.rng.permutation(len(updated))[:n_update]
    questions = []
    for i in picked_single:
        e, (finding,) = single[i]
        questions.append(Question(e.question, "single", finding.id, [], age(finding, now)))
    for i in picked_update:
        e, versions = updated[i]
        newest, stale = versions[-1], [v.id for v in versions[:-1]]
        questions.append(Question(e.update_question, "update", newest.id, stale, age(newest, now)))
    return questions


def latest_run_questions(
    threads: list[tuple[Experiment, list[Draft]]], now: float, n: int, d: Draw
) -> list[Question]:
    """Up to n questions about the newest result of a tool on a model that it ran several times.

    Drawn after the other questions, so adding them left the histories and the other questions
    as they were.
    """
    results: dict[tuple[str, str], list[Draft]] = {}
    for e, versions in threads:
        results.setdefault((e.tool, e.model), []).extend(versions)
    repeated = sorted(group for group, found in results.items() if len(found) > 1)
    questions = []
    for i in d.rng.permutation(len(repeated))[:n]:
        tool, model = repeated[i]
        newest = max(results[tool, model], key=lambda x: x.created)
        text = f"What did the most recent {tool} run on {model} find?"
        questions.append(Question(text, "latest", newest.id, [], age(newest, now)))
    return questions


def age(memory: Draft, now: float) -> float:
    return (now - memory.created) / HOUR
