"""Generated partitions of short, distinct sentences for controlled-contamination experiments."""

from __future__ import annotations

import random

from methods.dcq.data import Instance

_NAMES = [
    "Marla",
    "Tobin",
    "Ingrid",
    "Osric",
    "Pella",
    "Ravi",
    "Sunniva",
    "Dorian",
    "Elke",
    "Faro",
    "Greta",
    "Hollis",
    "Imre",
    "Juno",
    "Kasper",
    "Linnea",
    "Mateo",
    "Nadia",
    "Orla",
    "Piet",
    "Quinn",
    "Rosalind",
    "Soren",
    "Talia",
    "Ulric",
    "Vesna",
    "Wendel",
    "Yara",
    "Zeno",
    "Bodil",
]
_VERBS = [
    "paints",
    "repairs",
    "carries",
    "cleans",
    "builds",
    "sells",
    "hides",
    "finds",
    "watches",
    "guards",
    "moves",
    "borrows",
    "polishes",
    "measures",
    "opens",
    "closes",
    "lifts",
    "drags",
    "wraps",
    "decorates",
]
_ADJS = [
    "old",
    "small",
    "heavy",
    "bright",
    "quiet",
    "broken",
    "wooden",
    "narrow",
    "ancient",
    "golden",
    "rusty",
    "gentle",
    "dusty",
    "crooked",
    "tall",
    "shiny",
    "worn",
    "faded",
    "sturdy",
    "tiny",
]
_NOUNS = [
    "lantern",
    "fence",
    "boat",
    "chair",
    "basket",
    "ladder",
    "bridge",
    "window",
    "table",
    "clock",
    "wagon",
    "mirror",
    "barrel",
    "kettle",
    "bench",
    "gate",
    "drum",
    "carpet",
    "statue",
    "cabinet",
]
_PLACES = [
    "harbor",
    "market",
    "garden",
    "village",
    "library",
    "station",
    "meadow",
    "courtyard",
    "mill",
    "valley",
    "orchard",
    "chapel",
    "square",
    "forest",
    "cellar",
    "bakery",
    "workshop",
    "river",
    "field",
    "tower",
]
_TIMES = [
    "morning",
    "evening",
    "winter",
    "summer",
    "spring",
    "autumn",
    "night",
    "weekend",
    "holiday",
    "afternoon",
]


def generate_sentences(n: int, seed: int = 0) -> list[str]:
    """`n` distinct sentences such as "Marla repairs the rusty ladder near the quiet mill each
    morning." (with a few sentence shapes), reproducible from `seed`."""
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    rng = random.Random(seed)
    shapes = (
        "{name} {verb} the {adj} {noun} near the {adj2} {place} each {time}.",
        "Every {time}, {name} {verb} a {adj} {noun} in the {adj2} {place}.",
        "In the {adj2} {place}, {name} quietly {verb} the {adj} {noun} before {time}.",
    )
    seen: set[str] = set()
    out: list[str] = []
    while len(out) < n:
        adj, adj2 = rng.sample(_ADJS, 2)
        text = rng.choice(shapes).format(
            name=rng.choice(_NAMES),
            verb=rng.choice(_VERBS),
            adj=adj,
            adj2=adj2,
            noun=rng.choice(_NOUNS),
            place=rng.choice(_PLACES),
            time=rng.choice(_TIMES),
        )
        if text not in seen:
            seen.add(text)
            out.append(text)
    return out


def generated_partitions(
    sizes: dict[str, int], seed: int = 0, column: str = "text"
) -> dict[str, list[Instance]]:
    """Disjoint partitions of generated sentences, e.g. sizes={"A": 20, "B": 20}."""
    if not sizes or any(v < 1 for v in sizes.values()):
        raise ValueError(f"sizes must map partition names to positive sizes, got {sizes}")
    sentences = generate_sentences(sum(sizes.values()), seed)
    out, start = {}, 0
    for name, size in sizes.items():
        out[name] = [
            Instance(f"{name}{i}", {column: s})
            for i, s in enumerate(sentences[start : start + size])
        ]
        start += size
    return out
