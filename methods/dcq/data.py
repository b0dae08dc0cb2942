"""Instances of a dataset partition: rows from JSONL, CSV or a saved HF dataset, sub-sampled."""

from __future__ import annotations

import csv
import json
import random
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Instance:
    """One row: the chosen columns in order; `fixed` columns (labels) are never perturbed."""

    id: str
    fields: dict[str, str]
    fixed: tuple[str, ...] = field(default=())

    def render(self) -> str:
        """The instance as the quiz shows it: one "column: value" line per column."""
        return "\n".join(f"{k}: {v}" for k, v in self.fields.items())

    @property
    def free(self) -> list[str]:
        """The columns a perturbation may reword."""
        return [k for k in self.fields if k not in self.fixed]

    def with_fields(self, **values: str) -> Instance:
        unknown = set(values) - set(self.free)
        if unknown:
            raise ValueError(f"only the free columns {self.free} may change, not {sorted(unknown)}")
        return replace(self, fields={**self.fields, **values})


def instances_from_rows(
    rows: list[dict[str, Any]],
    columns: list[str],
    *,
    label_columns: list[str] | None = None,
    n: int | None = None,
    seed: int = 0,
    id_column: str | None = None,
) -> list[Instance]:
    """Instances of the chosen `columns`, a reproducible sample of `n` of them (all if None)."""
    if not rows:
        raise ValueError("rows is empty: the partition has no instances")
    if not columns:
        raise ValueError("columns must name at least one column to quiz on")
    labels = list(label_columns or [])
    missing = sorted({c for c in columns + labels if c not in rows[0]})
    if missing:
        raise ValueError(f"columns {missing} are not in the partition; it has {sorted(rows[0])}")
    if set(labels) >= set(columns):
        raise ValueError("columns must include at least one column that is not a label column")
    order = list(range(len(rows)))
    if n is not None:
        if n < 1:
            raise ValueError(f"n must be at least 1, got {n}")
        random.Random(seed).shuffle(order)
        order = sorted(order[:n])
    out = []
    for i in order:
        row = rows[i]
        values = {c: str(row[c]) for c in columns}
        for c in labels:
            if c not in values:
                values[c] = str(row[c])
        if not any(values[c].strip() for c in columns if c not in labels):
            continue  # an empty row has nothing to recognise
        rid = str(row[id_column]) if id_column else str(i)
        out.append(Instance(rid, values, tuple(labels)))
    if not out:
        raise ValueError("every sampled row was empty in the chosen columns")
    return out


def load_partition(
    path: str | Path,
    columns: list[str],
    *,
    label_columns: list[str] | None = None,
    n: int | None = 100,
    seed: int = 0,
    split: str | None = None,
) -> list[Instance]:
    """Read a partition from a .jsonl/.json/.csv file or a `datasets` folder saved to disk.

    At most `n` instances (the paper quizzes 100), sampled with `seed`.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"path {path} does not exist (expected a .jsonl, .csv or folder)")
    return instances_from_rows(
        read_rows(path, split), columns, label_columns=label_columns, n=n, seed=seed
    )


def read_rows(path: Path, split: str | None = None) -> list[dict[str, Any]]:
    """All rows of a partition file as dicts."""
    if path.is_dir():
        try:
            import datasets  # type: ignore[import-not-found]
        except ImportError as exc:
            raise ImportError(
                f"path {path} is a folder: reading a saved Hugging Face dataset needs "
                f"`pip install datasets`; or pass a .jsonl or .csv file"
            ) from exc
        data = datasets.load_from_disk(str(path))
        if isinstance(data, datasets.DatasetDict):
            if split is None or split not in data:
                raise ValueError(f"split must be one of {list(data)} for {path}, got {split!r}")
            data = data[split]
        return [dict(r) for r in data]
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        with path.open(encoding="utf-8") as f:
            rows = [json.loads(line) for line in f if line.strip()]
    elif suffix == ".json":
        rows = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(rows, list):
            raise ValueError(f"path {path} must hold a JSON list of objects")
    elif suffix == ".csv":
        with path.open(encoding="utf-8", newline="") as f:
            rows = list(csv.DictReader(f))
    else:
        raise ValueError(f"path must end in .jsonl, .json or .csv (or be a folder), got {path}")
    if rows and not all(isinstance(r, dict) for r in rows):
        raise ValueError(f"path {path} must hold one JSON object per row")
    return rows
