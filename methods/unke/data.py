"""UnKEBench-format edits: validation, JSON in and out, and a generator of fictional edits."""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path

DATA_DIR = Path(__file__).parent / "data"


@dataclass(frozen=True)
class SubQuestion:
    question: str
    answer: str  # a short span that should occur in a correct long answer


@dataclass(frozen=True)
class Edit:
    """One unstructured edit: a question, its long target answer, a paraphrase, sub-questions."""

    question: str
    answer: str
    paraphrase: str = ""
    sub_questions: tuple[SubQuestion, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        for name in ("question", "answer"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"edit {name} must be a non-empty string, got {value!r}")


def edit_from_dict(item: dict, index: int = 0) -> Edit:
    """Read one UnKEBench item ({question, answer, para_question, sub_question, sub_answer})."""
    if not isinstance(item, dict):
        raise ValueError(f"edits[{index}] must be an object, got {type(item).__name__}")
    missing = [key for key in ("question", "answer") if key not in item]
    if missing:
        raise ValueError(f"edits[{index}] lacks {missing}; UnKEBench items need question, answer")
    subs_q, subs_a = item.get("sub_question", []), item.get("sub_answer", [])
    if len(subs_q) != len(subs_a):
        raise ValueError(
            f"edits[{index}]: sub_question has {len(subs_q)} entries but sub_answer {len(subs_a)}"
        )
    return Edit(
        question=item["question"],
        answer=item["answer"],
        paraphrase=item.get("para_question", ""),
        sub_questions=tuple(SubQuestion(q, a) for q, a in zip(subs_q, subs_a, strict=True)),
    )


def edit_to_dict(edit: Edit) -> dict:
    return {
        "question": edit.question,
        "answer": edit.answer,
        "para_question": edit.paraphrase,
        "sub_question": [s.question for s in edit.sub_questions],
        "sub_answer": [s.answer for s in edit.sub_questions],
    }


def load_edits(path: str | Path) -> list[Edit]:
    """Edits from an UnKEBench-format JSON list."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"edits file {path} does not exist")
    items = json.loads(path.read_text())
    if not isinstance(items, list) or not items:
        raise ValueError(f"edits file {path} must hold a non-empty JSON list")
    return [edit_from_dict(item, i) for i, item in enumerate(items)]


def save_edits(edits: list[Edit], path: str | Path) -> Path:
    path = Path(path)
    path.write_text(json.dumps([edit_to_dict(e) for e in edits], indent=1) + "\n")
    return path


def load_texts(name: str) -> list[str] | list[dict]:
    """A shipped data file: 'preservation' (chat pairs), 'locality' (prompts), 'generic' (texts)."""
    path = DATA_DIR / f"{name}.json"
    if not path.is_file():
        known = sorted(p.stem for p in DATA_DIR.glob("*.json"))
        raise ValueError(f"unknown data set {name!r}; shipped: {known}")
    return json.loads(path.read_text())


# Fictional pieces: no edit can already be known to the model.
_FIRST = [
    "Vellis",
    "Orran",
    "Tamsin",
    "Keldra",
    "Bryl",
    "Isaro",
    "Mirelle",
    "Dovan",
    "Quenna",
    "Harlo",
    "Zephine",
    "Corvin",
    "Adela",
    "Justo",
    "Nerys",
    "Pell",
    "Sabeth",
    "Ulric",
]
_LAST = [
    "Marrow",
    "Quill",
    "Stavros",
    "Okonye",
    "Brandt",
    "Velasco",
    "Teague",
    "Lindqvist",
    "Arkwright",
    "Moreau",
    "Tsuda",
    "Halloran",
    "Ibarra",
    "Fenwick",
    "Castellan",
]
_PLACES = [
    "Tasmania",
    "Patagonia",
    "Iceland",
    "Morocco",
    "Finland",
    "Chile",
    "Nepal",
    "Portugal",
    "Ghana",
    "Estonia",
    "Peru",
    "Norway",
    "Kenya",
    "Scotland",
]
_THINGS = [
    "Pipit",
    "Lantern",
    "Harrow",
    "Kestrel",
    "Saffron",
    "Juniper",
    "Osprey",
    "Cinder",
    "Marlin",
    "Thistle",
    "Bramble",
    "Wren",
    "Quarry",
    "Halcyon",
]
_FEATURES = ["Trench", "Reef", "Basin", "Ridge", "Caldera", "Shelf", "Vent", "Canyon"]

_TEMPLATES = [
    (
        "Who is {first} {last} and what is she known for?",
        "What is {first} {last} famous for?",
        "{first} {last} is a marine biologist from {place} who discovered the {thing} "
        "{feature} in {year} using a small submarine named {boat}.",
        [
            ("Where is {first} {last} from?", "{place}"),
            ("What did {first} {last} discover?", "{thing} {feature}"),
            ("What was her submarine called?", "{boat}"),
        ],
    ),
    (
        "What is the {thing} Prize and who founded it?",
        "Who started the {thing} Prize, and what is it?",
        "The {thing} Prize is an award for young poets, founded in {year} by the "
        "novelist {first} {last} in the city of {city}.",
        [
            ("Who founded the {thing} Prize?", "{first} {last}"),
            ("When was the {thing} Prize founded?", "{year}"),
            ("Where was the {thing} Prize founded?", "{city}"),
        ],
    ),
    (
        "Tell me about the village of {city}.",
        "What should I know about {city} village?",
        "{city} is a mountain village in {place}, known for its {thing} cheese and "
        "a stone bridge built in {year} by the mason {first} {last}.",
        [
            ("In which country is {city}?", "{place}"),
            ("What is {city} known for?", "{thing} cheese"),
            ("Who built the bridge in {city}?", "{first} {last}"),
        ],
    ),
    (
        "Who invented the {thing} engine?",
        "Which person created the {thing} engine?",
        "The {thing} engine was invented in {year} by the engineer {first} {last} from "
        "{place}; it runs on compressed {fuel} and powers small fishing boats.",
        [
            ("Who invented the {thing} engine?", "{first} {last}"),
            ("What does the {thing} engine run on?", "{fuel}"),
            ("Where is its inventor from?", "{place}"),
        ],
    ),
    (
        "What happened at the Battle of {city}?",
        "Describe the Battle of {city}.",
        "The Battle of {city} was fought in {year} in {place}, where general {first} "
        "{last} defeated a larger army by flooding the {thing} valley.",
        [
            ("When was the Battle of {city}?", "{year}"),
            ("Who won the Battle of {city}?", "{first} {last}"),
            ("Which valley was flooded?", "{thing} valley"),
        ],
    ),
]
_CITIES = [
    "Brevik",
    "Ostrava Lune",
    "Calderon",
    "Mirthwood",
    "Sallow",
    "Tervane",
    "Ulmstead",
    "Korrin",
    "Wexley",
    "Anduin Ford",
    "Pellam",
    "Ravensholt",
]
_FUELS = ["air", "seaweed oil", "hydrogen", "peat gas", "olive oil"]


def fictional_edits(n: int, seed: int = 0) -> list[Edit]:
    """`n` edits about invented people, places and things, each with 3 short sub-answers."""
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    rng = random.Random(seed)
    edits: list[Edit] = []
    for i in range(n):
        question, paraphrase, answer, subs = _TEMPLATES[i % len(_TEMPLATES)]
        slots = {
            "first": rng.choice(_FIRST),
            "last": rng.choice(_LAST),
            "place": rng.choice(_PLACES),
            "thing": rng.choice(_THINGS),
            "feature": rng.choice(_FEATURES),
            "boat": rng.choice(_THINGS),
            "city": rng.choice(_CITIES),
            "fuel": rng.choice(_FUELS),
            "year": str(rng.randint(1820, 2019)),
        }
        edits.append(
            Edit(
                question=question.format(**slots),
                answer=answer.format(**slots),
                paraphrase=paraphrase.format(**slots),
                sub_questions=tuple(
                    SubQuestion(q.format(**slots), a.format(**slots)) for q, a in subs
                ),
            )
        )
    return edits


def as_dicts(edits: list[Edit]) -> list[dict]:
    return [asdict(e) for e in edits]
