"""Subject-verb agreement prompts in four families, with disjoint train and test nouns.

Each item is a contrastive pair that differs only in the number of the noun the verb must agree
with (Marks et al., after Finlayson et al. 2021):

    simple      The author            -> is / are
    nounpp      The author near the guards   -> is / are
    within_rc   The author that the guard    -> likes / like   (agrees with the clause's subject)
    rc          The author that the guards like -> is / are   (across the relative clause)
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from methods.circuits.attribution import Task, logit_diff
from methods.circuits.hooks import logits_of

FAMILIES = ("simple", "nounpp", "within_rc", "rc")

# Singular nouns whose singular and plural (+s) are one SmolLM2 token each, with a leading space.
NOUNS = [
    "author",
    "athlete",
    "doctor",
    "teacher",
    "guard",
    "farmer",
    "senator",
    "pilot",
    "lawyer",
    "manager",
    "officer",
    "student",
    "driver",
    "artist",
    "dancer",
    "singer",
    "writer",
    "actor",
    "nurse",
    "surgeon",
    "painter",
    "editor",
    "judge",
    "minister",
    "player",
    "customer",
    "engineer",
    "worker",
    "professor",
    "scientist",
    "soldier",
    "friend",
    "parent",
    "boy",
    "girl",
    "king",
    "clerk",
    "chef",
    "poet",
    "cook",
]
MAIN_VERBS = (("is", "are"), ("was", "were"), ("has", "have"))
RC_VERBS = (("likes", "like"), ("knows", "know"), ("loves", "love"), ("sees", "see"))
PREPOSITIONS = ("near", "behind", "beside")


@dataclass(frozen=True)
class Pair:
    """A clean prompt, its patch (number flipped), and the verb each should be followed by."""

    family: str
    clean: str
    patch: str
    clean_answer: str  # with its leading space, e.g. " is"
    patch_answer: str


def split_nouns(
    nouns: list[str] | tuple[str, ...] = NOUNS, test_fraction: float = 0.3, seed: int = 0
) -> tuple[list[str], list[str]]:
    """Disjoint (train, test) noun lists."""
    if len(nouns) < 4:
        raise ValueError(f"need at least 4 nouns to split, got {len(nouns)}")
    shuffled = list(nouns)
    random.Random(seed).shuffle(shuffled)
    n_test = max(2, round(len(shuffled) * test_fraction))
    return shuffled[n_test:], shuffled[:n_test]


def _form(noun: str, plural: bool) -> str:
    return noun + "s" if plural else noun


def make_pairs(
    family: str, nouns: list[str], n: int, seed: int = 0, distractors: list[str] | None = None
) -> list[Pair]:
    """`n` pairs of `family` with subjects from `nouns` (half singular-clean, half plural-clean)."""
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {FAMILIES}, got {family!r}")
    if len(nouns) < 2:
        raise ValueError(f"nouns needs at least 2 entries, got {len(nouns)}")
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    rng = random.Random(seed)
    others = distractors or nouns
    pairs = []
    for i in range(n):
        subject = rng.choice(nouns)
        other = rng.choice([o for o in others if o != subject])
        plural = i % 2 == 1
        other_plural = rng.random() < 0.5
        main = rng.choice(MAIN_VERBS)
        rc_verb = rng.choice(RC_VERBS)

        verbs = rc_verb if family == "within_rc" else main
        pairs.append(
            Pair(
                family,
                _prompt(family, subject, other, plural, other_plural, i, rc_verb),
                _prompt(family, subject, other, not plural, other_plural, i, rc_verb),
                " " + verbs[int(plural)],
                " " + verbs[int(not plural)],
            )
        )
    return pairs


def _prompt(
    family: str,
    subject: str,
    other: str,
    plural: bool,
    other_plural: bool,
    i: int,
    rc_verb: tuple[str, str],
) -> str:
    if family == "simple":
        return f"The {_form(subject, plural)}"
    if family == "nounpp":
        prep = PREPOSITIONS[i % len(PREPOSITIONS)]
        return f"The {_form(subject, plural)} {prep} the {_form(other, other_plural)}"
    if family == "within_rc":
        return f"The {_form(other, other_plural)} that the {_form(subject, plural)}"
    verb = rc_verb[1] if other_plural else rc_verb[0]
    return f"The {_form(subject, plural)} that the {_form(other, other_plural)} {verb}"


def task_sentences(
    nouns: list[str] | tuple[str, ...] = NOUNS, n: int = 400, seed: int = 0
) -> list[str]:
    """Complete agreement sentences (prompt + right verb + an ending) for the SAE corpus."""
    endings = ("here", "happy", "tired", "ready", "late", "right")
    rng = random.Random(seed)
    sentences = []
    for family in FAMILIES:
        for p in make_pairs(family, list(nouns), n // len(FAMILIES), seed=seed):
            sentences.append(f"{p.clean}{p.clean_answer} {rng.choice(endings)}")
            sentences.append(f"{p.patch}{p.patch_answer} {rng.choice(endings)}")
    return sentences


@dataclass
class PairTokens:
    """Token ids of a family's pairs: clean and patch (B, T), and each one's right verb (B,)."""

    clean: torch.Tensor
    patch: torch.Tensor
    clean_answer: torch.Tensor
    patch_answer: torch.Tensor

    def __len__(self) -> int:
        return len(self.clean)

    def subset(self, keep: torch.Tensor) -> PairTokens:
        return PairTokens(
            self.clean[keep], self.patch[keep], self.clean_answer[keep], self.patch_answer[keep]
        )

    def discovery_task(self) -> Task:
        """m = logit(patch verb) - logit(clean verb): patching moves it up."""
        return Task(self.clean, logit_diff(self.patch_answer, self.clean_answer), patch=self.patch)

    def eval_task(self) -> Task:
        """m = logit(clean verb) - logit(patch verb), the sign faithfulness uses."""
        return Task(self.clean, logit_diff(self.clean_answer, self.patch_answer), patch=self.patch)


def tokenize_pairs(pairs: list[Pair], encode: Callable[[str], list[int]]) -> PairTokens:
    """Token ids of pairs whose prompts all have one length and whose verbs are one token each."""
    if not pairs:
        raise ValueError("pairs is empty")
    clean = [encode(p.clean) for p in pairs]
    patch = [encode(p.patch) for p in pairs]
    answers = [(encode(p.clean_answer), encode(p.patch_answer)) for p in pairs]
    lengths = {len(c) for c in clean} | {len(c) for c in patch}
    if len(lengths) != 1:
        raise ValueError(
            f"pairs must tokenise to one length, got lengths {sorted(lengths)}: use single-token "
            "nouns (singular and plural) and one family per call"
        )
    if any(len(a) != 1 or len(b) != 1 for a, b in answers):
        raise ValueError("every verb must be a single token")
    return PairTokens(
        torch.tensor(clean),
        torch.tensor(patch),
        torch.tensor([a[0] for a, _ in answers]),
        torch.tensor([b[0] for _, b in answers]),
    )


@torch.no_grad()
def keep_correct(model: nn.Module, tokens: PairTokens) -> PairTokens:
    """Only the pairs where the model prefers the right verb for both the clean and the patch."""
    clean_ok = (
        logit_diff(tokens.clean_answer, tokens.patch_answer)(logits_of(model, tokens.clean)) > 0
    )
    patch_ok = (
        logit_diff(tokens.patch_answer, tokens.clean_answer)(logits_of(model, tokens.patch)) > 0
    )
    return tokens.subset(clean_ok & patch_ok)
