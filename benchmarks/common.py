"""What both benchmarks share: pass/fail targets, percentiles, and writing the JSON result."""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

RESULTS = Path(__file__).parent / "results"


@dataclass(frozen=True)
class Target:
    """A bar the benchmark is held to; `value` is what was measured."""

    name: str
    value: float
    bar: str  # e.g. ">= 0.9", for the printed line
    passed: bool

    def line(self) -> str:
        verdict = "PASS" if self.passed else "FAIL"
        return f"{verdict}  {self.name}: {self.value:.3f} (target {self.bar})"


def at_least(name: str, value: float, bar: float) -> Target:
    return Target(name, value, f">= {bar}", value >= bar)


def at_most(name: str, value: float, bar: float) -> Target:
    return Target(name, value, f"<= {bar}", value <= bar)


def percentile_ms(seconds: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(seconds) * 1000.0, q))


def print_targets(targets: list[Target]) -> None:
    print()
    for target in targets:
        print(target.line())


def write_json(result: dict[str, Any], out_dir: Path, name: str) -> Path:
    """Write `out_dir/name.json` atomically (a .tmp file renamed), so a reader never sees half."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.json"
    tmp = path.with_suffix(".tmp")
    text = json.dumps(_finite(result), indent=2, default=_jsonable, allow_nan=False)
    tmp.write_text(text + "\n")
    os.replace(tmp, path)
    return path


def _finite(value: Any) -> Any:
    """NaN (a rate over no questions) becomes null: JSON has no NaN."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if isinstance(value, Target):
        return _finite(asdict(value))
    return value


def _jsonable(value: Any) -> Any:
    if isinstance(value, Target):
        return asdict(value)
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")
