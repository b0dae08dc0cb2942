"""Synthetic Bias in Bios: nurse and professor biographies with a weak profession cue and a strong
gender cue, split into the ambiguous training set (male professors, female nurses), a balanced
training set (for the oracle) and a balanced test set of four subgroups.

Each biography is two filler sentences plus one or two sentences naming the workplace (the
profession cue: one domain word each) and a name and pronouns (the gender cue: a name and at
least three pronouns). A probe trained on the ambiguous set can use either cue; the gender cue is
the louder one, which is what makes the probe spurious (De-Arteaga et al. 2019; SHIFT, Marks et
al. 2024, section 4).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

PROFESSIONS = ("nurse", "professor")  # label 0, 1
GENDERS = ("female", "male")  # label 0, 1

FEMALE_NAMES = [
    "Mary",
    "Linda",
    "Susan",
    "Karen",
    "Nancy",
    "Lisa",
    "Sarah",
    "Emily",
    "Laura",
    "Anna",
    "Julia",
    "Maria",
    "Helen",
    "Rachel",
    "Emma",
    "Alice",
    "Grace",
    "Sophie",
    "Kate",
    "Jane",
    "Amy",
    "Claire",
    "Rose",
    "Ruth",
    "Diana",
]
MALE_NAMES = [
    "John",
    "David",
    "James",
    "Robert",
    "Michael",
    "Paul",
    "Mark",
    "Peter",
    "George",
    "Thomas",
    "Daniel",
    "Steven",
    "Kevin",
    "Brian",
    "Eric",
    "Henry",
    "Jack",
    "Adam",
    "Frank",
    "Scott",
    "Carl",
    "Ryan",
    "Sam",
    "Tony",
    "Victor",
]
PRONOUNS = {  # subject, object, possessive
    "female": ("she", "her", "her"),
    "male": ("he", "him", "his"),
}
# One domain word per cue sentence. Each is a single common word, so the cue stays weak.
DOMAIN_WORDS = {
    "nurse": [
        "hospital",
        "clinic",
        "ward",
        "patients",
        "nursing",
        "medication",
        "bedside",
        "infirmary",
    ],
    "professor": [
        "university",
        "campus",
        "lectures",
        "students",
        "faculty",
        "seminar",
        "college",
        "thesis",
    ],
}
_CUE_SENTENCES = (
    "{S} works long days at the {w}.",
    "Most of {P} week is spent at the {w}.",
    "{S} has been at the {w} for years.",
    "Friends say {s} talks about the {w} a lot.",
)
_GENDERED_FILLER = (
    "{S} grew up in a small town by the sea.",
    "On weekends {s} likes to walk in the park.",
    "{S} keeps a small garden behind the house.",
    "{P_} favourite food is pasta with tomatoes.",
    "{S} reads the news every morning with coffee.",
    "Neighbours often ask {O} for advice.",
    "{S} moved to the city after school.",
    "{P_} old car still runs well.",
    "{S} enjoys music and old films.",
    "Last summer {s} travelled by train across the country.",
    "{S} has two cats and a dog.",
    "{P_} brother lives nearby.",
)


@dataclass(frozen=True)
class Bio:
    text: str
    profession: int  # 0 nurse, 1 professor
    gender: int  # 0 female, 1 male


def biography(profession: int, gender: int, rng: random.Random) -> Bio:
    """One biography: a name, at least three pronouns, one or two profession cue words."""
    if profession not in (0, 1) or gender not in (0, 1):
        raise ValueError(
            f"profession and gender must be 0 or 1, got profession={profession}, gender={gender}"
        )
    job, sex = PROFESSIONS[profession], GENDERS[gender]
    name = rng.choice(FEMALE_NAMES if gender == 0 else MALE_NAMES)
    s, o, p = PRONOUNS[sex]
    slots = {"s": s, "S": s.capitalize(), "O": o, "P": p, "P_": p.capitalize()}
    words = rng.sample(DOMAIN_WORDS[job], rng.choice((1, 2)))
    cues = [rng.choice(_CUE_SENTENCES).format(w=w, **slots) for w in words]
    body = [f.format(**slots) for f in rng.sample(_GENDERED_FILLER, 2)] + cues
    rng.shuffle(body)
    return Bio(f"{name} is a friendly person. " + " ".join(body), profession, gender)


def biographies(n: int, profession: int, gender: int, seed: int = 0) -> list[Bio]:
    """`n` biographies of one subgroup (deterministic in `seed`)."""
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    rng = random.Random(f"{seed}-{profession}-{gender}")
    return [biography(profession, gender, rng) for _ in range(n)]


@dataclass(frozen=True)
class BiasSplits:
    """The ambiguous training set, a balanced training set and the balanced test set."""

    ambiguous: list[Bio]  # male professors and female nurses only
    balanced: list[Bio]  # all four subgroups (the oracle's training data)
    test: list[Bio]  # all four subgroups


def bias_splits(
    n_ambiguous: int = 600, n_balanced: int = 150, n_test: int = 150, seed: int = 0
) -> BiasSplits:
    """`n_ambiguous` per ambiguous subgroup, `n_balanced` and `n_test` per each of the four."""
    amb = biographies(n_ambiguous, 1, 1, seed) + biographies(n_ambiguous, 0, 0, seed)
    groups = [(p, g) for p in (0, 1) for g in (0, 1)]
    bal = [b for p, g in groups for b in biographies(n_balanced, p, g, seed + 1000)]
    test = [b for p, g in groups for b in biographies(n_test, p, g, seed + 2000)]
    return BiasSplits(amb, bal, test)


def gender_lexicon() -> set[str]:
    """Lower-case words that carry gender: pronouns, gendered nouns and the generator's names."""
    words = {"he", "she", "him", "her", "his", "hers", "himself", "herself", "mr", "mrs", "ms"}
    words |= {"man", "woman", "men", "women", "male", "female", "boy", "girl", "sir", "madam"}
    words |= {"husband", "wife", "father", "mother", "son", "daughter", "brother", "sister"}
    words |= {n.lower() for n in FEMALE_NAMES + MALE_NAMES}
    return words
