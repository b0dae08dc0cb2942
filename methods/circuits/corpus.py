"""SAE training text already on the machine: docstrings of the standard library and installed
packages (read with ast, never imported), mixed with task-distribution text."""

from __future__ import annotations

import ast
import random
import sysconfig
from collections.abc import Iterator
from pathlib import Path


def docstrings(
    roots: list[Path] | None = None, max_files: int = 4000, seed: int = 0
) -> Iterator[str]:
    """Module, class and function docstrings of .py files under `roots` (default: the stdlib)."""
    roots = roots or [Path(sysconfig.get_paths()["stdlib"])]
    files: list[Path] = []
    for root in roots:
        if not Path(root).is_dir():
            raise FileNotFoundError(f"corpus root {root} is not a folder")
        files += sorted(p for p in Path(root).rglob("*.py") if "test" not in p.parts[-2:][0])
    random.Random(seed).shuffle(files)
    for path in files[:max_files]:
        try:
            tree = ast.parse(path.read_text(encoding="utf-8", errors="ignore"))
        except (SyntaxError, ValueError):
            continue  # files for other Python versions or templates
        for node in ast.walk(tree):
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                doc = ast.get_docstring(node)
                if doc and len(doc) > 80:
                    yield " ".join(doc.split())


def corpus(
    n_chars: int, task_text: list[str] | None = None, task_fraction: float = 0.1, seed: int = 0
) -> list[str]:
    """About `n_chars` of text: docstrings, with `task_fraction` of it drawn from `task_text`."""
    if n_chars <= 0:
        raise ValueError(f"n_chars must be positive, got {n_chars}")
    if task_text is not None and not task_text:
        raise ValueError("task_text is empty; pass None for docstrings only")
    rng = random.Random(seed)
    texts: list[str] = []
    budget = n_chars * (1 - task_fraction if task_text else 1)
    size = 0
    for doc in docstrings(seed=seed):
        texts.append(doc)
        size += len(doc)
        if size >= budget:
            break
    if task_text:
        task_budget, size = n_chars * task_fraction, 0
        while size < task_budget:
            # Task sentences are short: join a few so contexts hold several.
            chunk = ". ".join(rng.choice(task_text) for _ in range(8)) + "."
            texts.append(chunk)
            size += len(chunk)
    rng.shuffle(texts)
    return texts
