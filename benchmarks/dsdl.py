"""DSDL: round trips through COCO, VOC, ImageFolder and masks; valid and malformed corpora; speed.

    python -m benchmarks.dsdl [--quick] [--seeds 0 1 2] [--images 12] [--samples 10000] [--out DIR]

Round trips (per format and seed, on data drawn with Pillow): X -> DSDL -> X' must equal X
after canonicalisation (numbers within 1e-6), and DSDL -> X' -> DSDL must give the same
bytes; every converted dataset must validate, images opened. Across formats, COCO -> DSDL ->
VOC -> DSDL must keep every box and class. The valid corpus (all 13 templates, YAML/JSON,
inline/external samples, import chains, global info) must pass; each file of the malformed
corpus must be reported with its expected error class at its expected JSON pointer. Speed:
validating 10k samples with about 50k boxes, media existence checked, one thread.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import RESULTS, Target, at_least, at_most, print_targets, write_json
from methods.dsdl import generate as gen
from methods.dsdl.convert import FROM_DSDL, TO_DSDL
from methods.dsdl.convert.coco import coco_equal, coco_splits
from methods.dsdl.convert.imagefolder import read_imagefolder
from methods.dsdl.convert.segmentation import read_segmentation
from methods.dsdl.convert.voc import read_voc
from methods.dsdl.corpus import malformed_corpus, valid_corpus
from methods.dsdl.loader import load_dataset
from methods.dsdl.validate import validate

FORMATS = ("coco", "voc", "imagefolder", "segmentation")


def _tree(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _same_source(fmt: str, a: Path, b: Path) -> tuple[bool, str]:
    """X equals X' after canonicalisation."""
    if fmt == "coco":
        if coco_splits(a) != coco_splits(b):
            return False, "splits differ"
        for split in coco_splits(a):
            ok, why = coco_equal(
                *(_json(p / "annotations" / f"instances_{split}.json") for p in (a, b))
            )
            if not ok:
                return False, f"{split}{why}"
            if _tree(a / split) != _tree(b / split):
                return False, f"{split}: image files differ"
        return True, ""
    read = {"voc": read_voc, "imagefolder": read_imagefolder, "segmentation": read_segmentation}
    if fmt == "voc":
        if read_voc(a) != read_voc(b):
            return False, "annotations or splits differ"
        return (_tree(a / "JPEGImages") == _tree(b / "JPEGImages"), "JPEG files differ")
    return (read[fmt](a) == read[fmt](b), "contents differ")


def _json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def round_trip(fmt: str, seed: int, images: int, work: Path) -> dict[str, Any]:
    started = time.perf_counter()
    src = work / f"{fmt}-{seed}" / "x"
    getattr(gen, f"generate_{fmt}")(src, images=images, seed=seed)
    d1, x2, d2 = (work / f"{fmt}-{seed}" / n for n in ("dsdl", "x2", "dsdl2"))
    TO_DSDL[fmt](src, d1)
    report = validate(d1, open_media=True)
    FROM_DSDL[fmt](d1, x2)
    same_x, why_x = _same_source(fmt, src, x2)
    TO_DSDL[fmt](x2, d2)
    t1, t2 = _tree(d1), _tree(d2)
    same_bytes = t1 == t2
    why_d = "" if same_bytes else f"{sorted(k for k in t1 if t1.get(k) != t2.get(k))[:3]}"
    splits = load_dataset(d1)
    return {
        "format": fmt,
        "seed": seed,
        "samples": sum(len(s) for s in splits.values()),
        "files": len(t1),
        "valid": report.ok,
        "x_roundtrip": same_x,
        "dsdl_bytes": same_bytes,
        "why": "; ".join(w for w in (why_x if not same_x else "", why_d) if w),
        "seconds": time.perf_counter() - started,
    }


def _boxes(dataset: Path) -> dict[tuple[str, str], list[tuple[str, tuple[float, ...]]]]:
    """(split, image file) -> [(class, xywh box)] over a DSDL detection dataset."""
    from methods.dsdl.convert.typed import box_of, image_of, label_of, objects_of

    out = {}
    for name, split in load_dataset(dataset, box_mode="xywh").items():
        for sample in split:
            key = (name, Path(image_of(sample).locator).name)
            out[key] = [(label_of(o).name, box_of(o).values) for o in objects_of(sample)]
    return out


def cross_format(seed: int, images: int, work: Path) -> dict[str, Any]:
    """COCO -> DSDL -> VOC -> DSDL keeps every box and class of COCO -> DSDL."""
    root = work / f"cross-{seed}"
    gen.generate_coco(root / "coco", images=images, seed=seed)
    TO_DSDL["coco"](root / "coco", root / "d1")
    FROM_DSDL["voc"](root / "d1", root / "voc")
    TO_DSDL["voc"](root / "voc", root / "d2")
    a, b = _boxes(root / "d1"), _boxes(root / "d2")
    same = a.keys() == b.keys() and all(
        len(a[k]) == len(b[k])
        and all(
            ca == cb and all(abs(x - y) <= 1e-6 for x, y in zip(ba, bb, strict=True))
            for (ca, ba), (cb, bb) in zip(a[k], b[k], strict=True)
        )
        for k in a
    )
    return {"seed": seed, "images": len(a), "boxes": sum(len(v) for v in a.values()), "same": same}


def corpora(work: Path) -> dict[str, Any]:
    valid_rows = []
    for case in valid_corpus(work / "valid"):
        report = validate(case.path, open_media=True)
        valid_rows.append(
            {
                "name": case.name,
                "ok": report.ok,
                "warnings": report.warnings,
                "errors": [str(p) for p in report.problems if p.severity == "error"][:3],
            }
        )
    bad_rows = []
    for case in malformed_corpus(work / "malformed"):
        report = validate(case.path, open_media=True)
        hits = [
            p
            for p in report.problems
            if p.code == case.code
            and p.pointer == case.pointer
            and (not case.file or (p.file is not None and p.file.name == case.file))
        ]
        others = [p for p in report.problems if p not in hits and p.severity == "error"]
        bad_rows.append(
            {
                "name": case.name,
                "expected": f"{case.code} at {case.file}#{case.pointer}",
                "detected": bool(hits),
                "only": bool(hits) and not others,
                "found": [str(p) for p in report.problems[:3]],
            }
        )
    return {"valid": valid_rows, "malformed": bad_rows}


def speed(samples: int, repeats: int, work: Path) -> dict[str, Any]:
    path = gen.generate_detection_dsdl(work / "speed", samples=samples, boxes=5, seed=0)
    boxes = sum(len(s["objects"]) for s in _json(path.parent / "train_samples.json")["samples"])
    seconds = []
    report = None
    for _ in range(repeats):
        report = validate(path)
        seconds.append(report.seconds)
    assert report is not None
    median = statistics.median(seconds)
    return {
        "samples": samples,
        "boxes": boxes,
        "valid": report.ok,
        "seconds": seconds,
        "median_s": median,
        "samples_per_s": samples / median,
        "boxes_per_s": boxes / median,
    }


def print_tables(
    rows: list[dict[str, Any]],
    cross: list[dict[str, Any]],
    corp: dict[str, Any],
    spd: dict[str, Any],
) -> None:
    head = ("format", "seed", "samples", "files", "valid", "X->D->X", "D->X->D", "s")
    print(f"{head[0]:<13}" + "".join(f"{h:>9}" for h in head[1:]))
    for r in rows:
        cells = (
            r["seed"],
            r["samples"],
            r["files"],
            str(r["valid"]),
            "exact" if r["x_roundtrip"] else "DIFF",
            "same" if r["dsdl_bytes"] else "DIFF",
            f"{r['seconds']:.2f}",
        )
        print(f"{r['format']:<13}" + "".join(f"{c:>9}" for c in cells))
        if r["why"]:
            print(f"    {r['why']}")
    for c in cross:
        verdict = "same" if c["same"] else "DIFF"
        print(
            f"COCO->DSDL->VOC->DSDL seed {c['seed']}: {c['images']} images, "
            f"{c['boxes']} boxes, {verdict}"
        )
    valid = corp["valid"]
    print(f"\nvalid corpus: {sum(r['ok'] for r in valid)}/{len(valid)} pass")
    for r in valid:
        if not r["ok"]:
            print(f"  FALSE REJECT {r['name']}: {r['errors']}")
    bad = corp["malformed"]
    caught = sum(r["detected"] for r in bad)
    print(f"malformed corpus: {caught}/{len(bad)} detected with class and location")
    for r in bad:
        mark = "ok " if r["detected"] else "MISS"
        only = "" if r["only"] else "  (+ other errors)"
        print(f"  {mark} {r['name']:<44} {r['expected']}{only}")
        if not r["detected"]:
            print(f"       found: {r['found']}")
    print(
        f"\nspeed: {spd['samples']} samples, {spd['boxes']} boxes validated in "
        f"{spd['median_s']:.2f} s (median of {len(spd['seconds'])}): "
        f"{spd['samples_per_s']:.0f} samples/s, {spd['boxes_per_s']:.0f} boxes/s"
    )


def targets(
    rows: list[dict[str, Any]],
    cross: list[dict[str, Any]],
    corp: dict[str, Any],
    spd: dict[str, Any],
) -> list[Target]:
    exact = sum(r["x_roundtrip"] and r["dsdl_bytes"] and r["valid"] for r in rows) / len(rows)
    false_rejects = sum(not r["ok"] for r in corp["valid"])
    detected = sum(r["detected"] for r in corp["malformed"]) / len(corp["malformed"])
    return [
        at_least(f"round trips exact ({len(rows)} = formats x seeds)", exact, 1.0),
        at_least(
            "COCO->DSDL->VOC->DSDL keeps boxes", sum(c["same"] for c in cross) / len(cross), 1.0
        ),
        at_most(
            f"false rejects in the valid corpus ({len(corp['valid'])} files)", false_rejects, 0
        ),
        at_least(
            f"malformed files caught with class and location ({len(corp['malformed'])})",
            detected,
            1.0,
        ),
        at_most(
            f"seconds to validate {spd['samples']} samples / {spd['boxes']} boxes",
            spd["median_s"],
            10.0,
        ),
    ]


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--images", type=int, default=12, help="images per split per dataset")
    parser.add_argument("--samples", type=int, default=10_000, help="samples for the speed test")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="1 seed, 3 images, 1000 samples")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for the JSON result")
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.images, args.samples, args.repeats = [0], 3, 1000, 1
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse(argv)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="ponder-dsdl-") as tmp:
        work = Path(tmp)
        rows = []
        for fmt in FORMATS:
            for seed in args.seeds:
                print(f"round trip {fmt} seed {seed}", file=sys.stderr)
                rows.append(round_trip(fmt, seed, args.images, work))
        cross = [cross_format(seed, args.images, work) for seed in args.seeds]
        print("corpora", file=sys.stderr)
        corp = corpora(work)
        print(f"speed ({args.samples} samples)", file=sys.stderr)
        spd = speed(args.samples, args.repeats, work)
    print()
    print_tables(rows, cross, corp, spd)
    checks = targets(rows, cross, corp, spd)
    print_targets(checks)
    runtime = time.perf_counter() - started
    print(f"\ntotal runtime {runtime:.0f} s")
    result = {
        "benchmark": "dsdl",
        "seeds": args.seeds,
        "images_per_split": args.images,
        "round_trips": rows,
        "cross_format": cross,
        "valid_corpus": corp["valid"],
        "malformed_corpus": corp["malformed"],
        "speed": spd,
        "targets": checks,
        "runtime_s": runtime,
    }
    path = write_json(result, args.out, "dsdl")
    print(f"wrote {path}")
    return result


if __name__ == "__main__":
    main()
