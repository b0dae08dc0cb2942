"""Class domains: ordered class lists with dotted hierarchy, 1-based indices and a skeleton."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_SPECIAL = re.compile(r"[^\w .]")


def sanitize_class_name(name: str) -> str:
    """A class name fit for a domain: characters other than letters, digits, '_', ' ' and '.'
    become '_' (the SDK's `replace_special_characters`, which keeps spaces and dots here so
    that names like 'traffic light' and hierarchies like 'vehicle.car' survive)."""
    return _SPECIAL.sub("_", name).strip()


@dataclass(frozen=True)
class ClassLabel:
    """A label resolved against its domain: domain name, 1-based index, full dotted name."""

    domain: str
    index: int
    name: str

    @property
    def leaf(self) -> str:
        """The last part of a dotted name: 'airplane' for 'vehicle.airplane'."""
        return self.name.rsplit(".", 1)[-1]

    @property
    def parents(self) -> tuple[str, ...]:
        """Ancestors from the root: ('vehicle',) for 'vehicle.airplane'."""
        return tuple(self.name.split(".")[:-1])

    def __str__(self) -> str:
        return f"{self.domain}::{self.name}"


@dataclass
class ClassDomain:
    """A named, ordered list of classes. Labels are names, 1-based indices or 'Dom::name'."""

    name: str
    classes: list[str]
    skeleton: list[tuple[int, int]] | None = None
    _by_name: dict[str, int] = field(init=False, repr=False)
    _by_leaf: dict[str, int | None] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._by_name = {c: i + 1 for i, c in enumerate(self.classes)}
        self._by_leaf = {}
        for i, c in enumerate(self.classes):
            leaf = c.rsplit(".", 1)[-1]
            # A leaf shared by two classes is ambiguous: only the full name resolves it.
            self._by_leaf[leaf] = None if leaf in self._by_leaf else i + 1

    def __len__(self) -> int:
        return len(self.classes)

    def __contains__(self, item: object) -> bool:
        return self.index_of(item) is not None

    def label(self, index: int) -> ClassLabel:
        """The class at a 1-based index."""
        if not 1 <= index <= len(self.classes):
            raise IndexError(
                f"class index {index} is outside domain {self.name} (1..{len(self.classes)})"
            )
        return ClassLabel(self.name, index, self.classes[index - 1])

    def index_of(self, value: object) -> int | None:
        """The 1-based index a label value stands for, or None if it is not in this domain."""
        if isinstance(value, bool):
            return None
        if isinstance(value, int):
            return value if 1 <= value <= len(self.classes) else None
        if not isinstance(value, str):
            return None
        if "::" in value:
            domain, _, value = value.partition("::")
            if domain != self.name:
                return None
        if value in self._by_name:
            return self._by_name[value]
        return self._by_leaf.get(value)

    def resolve(self, value: object) -> ClassLabel:
        """The ClassLabel for a label value; KeyError says why it is not in the domain."""
        index = self.index_of(value)
        if index is None:
            raise KeyError(self.why_not(value))
        return self.label(index)

    def why_not(self, value: object) -> str:
        """A message saying why `value` is not a label of this domain."""
        n = len(self.classes)
        if isinstance(value, int) and not isinstance(value, bool):
            if value == 0:
                return f"label index 0 is not valid: indices into {self.name} are 1-based (1..{n})"
            return f"label index {value} is outside domain {self.name} (1..{n})"
        if isinstance(value, str) and "::" in value:
            domain = value.partition("::")[0]
            if domain != self.name:
                return f"label {value!r} names domain {domain!r}, but this field uses {self.name}"
        if isinstance(value, str) and self._by_leaf.get(value.rsplit("::", 1)[-1], 0) is None:
            return f"label {value!r} is ambiguous in {self.name}: give the full dotted name"
        shown = ", ".join(self.classes[:8]) + (", ..." if n > 8 else "")
        return f"label {value!r} is not a class of {self.name} ({shown})"

    def hierarchy(self) -> dict[str, list[str]]:
        """Each parent prefix and the full class names under it ('vehicle' -> [...])."""
        tree: dict[str, list[str]] = {}
        for c in self.classes:
            parts = c.split(".")
            for depth in range(1, len(parts)):
                tree.setdefault(".".join(parts[:depth]), []).append(c)
        return tree
