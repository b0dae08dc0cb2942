"""DSDL problem classes: what went wrong, where (a JSON pointer into a file), and how to fix it.

Every check reports a `Problem` whose `code` is the name of one of the classes below, so a
report can be filtered by class and a caller can raise the matching exception. Definition
problems point into a description file (`/defs/Sample/$fields/bbox`), sample problems into
the document that holds the samples (`/data/samples/3/objects/0/bbox/2` for inline samples,
`/samples/3/...` for an external samples JSON).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Severity = Literal["error", "warning"]


class DSDLError(Exception):
    """Base of every DSDL error."""


# Definition problems: the description itself is wrong.
class SectionMissingError(DSDLError):
    """A required section ($dsdl-version, meta, data, data/sample-type) is absent."""


class DefineSyntaxError(DSDLError):
    """A section or definition has the wrong shape ($def value, $fields, a type expression)."""


class InvalidNameError(DSDLError):
    """A struct, class-domain or field name is not an identifier, or is a keyword or built-in."""


class DuplicateDefineError(DSDLError):
    """A name is defined twice in one file, or a class domain lists a class twice."""


class CircularDefineError(DSDLError):
    """Structs refer to each other in a cycle."""


class UndefinedTypeError(DSDLError):
    """A field names a type that is neither built in nor defined."""


class UndefinedDomainError(DSDLError):
    """A field names a class domain that is not defined."""


class ParameterError(DSDLError):
    """A type's parameters are wrong: missing, unknown, of the wrong kind, or not declared."""


class DSDLImportError(DSDLError):
    """An $import entry cannot be found or read."""


class SamplePathError(DSDLError):
    """The samples (or global-info) file named by the data section is missing or malformed."""


# Sample problems: the description is fine, the data does not fit it.
class FieldValueError(DSDLError):
    """A value does not fit its field type (type, length, range, order, format)."""


class LabelError(DSDLError):
    """A label is not a class of its domain (unknown name, index 0 or past the end)."""


class KeypointError(DSDLError):
    """Keypoints do not match their domain (count), or the domain has no skeleton."""


class MissingFieldError(DSDLError):
    """A required (non-$optional) field is absent from a sample."""


class MediaNotFoundError(DSDLError):
    """A media locator points at a file that does not exist."""


class MediaFormatError(DSDLError):
    """A media file exists but is not what its field says (unreadable, LabelMap not 1-channel)."""


# Warnings: reported, never fatal.
class DSDLWarning(UserWarning):
    """Base of DSDL warnings."""


class UnknownFieldWarning(DSDLWarning):
    """A sample carries a field its struct does not declare."""


class ClassNameWarning(DSDLWarning):
    """A class name uses characters other than letters, digits, '_', ' ' and '.'."""


class UnresolvedLocatorWarning(DSDLWarning):
    """A locator (`::domain::id`) refers to a media registry that cannot be checked offline."""


class GlobalInfoWarning(DSDLWarning):
    """The data section has global info without a type, or a type without info."""


ERROR_CLASSES: dict[str, type[DSDLError]] = {
    cls.__name__: cls
    for cls in (
        SectionMissingError,
        DefineSyntaxError,
        InvalidNameError,
        DuplicateDefineError,
        CircularDefineError,
        UndefinedTypeError,
        UndefinedDomainError,
        ParameterError,
        DSDLImportError,
        SamplePathError,
        FieldValueError,
        LabelError,
        KeypointError,
        MissingFieldError,
        MediaNotFoundError,
        MediaFormatError,
    )
}
WARNING_CLASSES: dict[str, type[DSDLWarning]] = {
    cls.__name__: cls
    for cls in (UnknownFieldWarning, ClassNameWarning, UnresolvedLocatorWarning, GlobalInfoWarning)
}


@dataclass(frozen=True)
class Problem:
    """One finding: its class, a JSON pointer, a message a person can act on, and the file."""

    code: str
    pointer: str
    message: str
    file: Path | None = None
    severity: Severity = "error"

    def __str__(self) -> str:
        where = f"{self.file}#{self.pointer}" if self.file else self.pointer or "/"
        return f"{self.code} at {where}: {self.message}"

    def exception(self) -> Exception:
        """The exception this problem stands for (a warning class for warnings)."""
        cls = ERROR_CLASSES.get(self.code) or WARNING_CLASSES.get(self.code) or DSDLError
        return cls(str(self))

    def as_dict(self) -> dict[str, str | None]:
        return {
            "code": self.code,
            "severity": self.severity,
            "pointer": self.pointer,
            "file": str(self.file) if self.file else None,
            "message": self.message,
        }


class DSDLDefinitionError(DSDLError):
    """A description could not be parsed; `problems` lists every definition problem found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        errors = [p for p in problems if p.severity == "error"]
        head = "; ".join(str(p) for p in errors[:3])
        more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
        super().__init__(f"{len(errors)} definition error(s): {head}{more}")


def pointer(*parts: object) -> str:
    """A JSON pointer (RFC 6901) from path parts: '~' and '/' inside a part are escaped."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


class DSDLValidationError(DSDLError):
    """Samples failed validation where valid data was required (loading, converting)."""

    def __init__(self, problems: list[Problem], total: int | None = None) -> None:
        self.problems = problems
        errors = [p for p in problems if p.severity == "error"]
        count = total if total is not None else len(errors)
        head = "; ".join(str(p) for p in errors[:3])
        more = f" (and {count - 3} more)" if count > 3 else ""
        super().__init__(f"{count} validation error(s): {head}{more}")
