"""The `dsdl` command group: validate, convert, info, view, template, generate.

Run as `python -m methods.dsdl ...`; `ponder dsdl ...` mounts the same group. Exit codes: 0
success (and a valid dataset for `validate`), 1 a failure or an invalid dataset, 2 usage.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from methods.dsdl.errors import DSDLError

FORMAT_CHOICES = ["dsdl", "coco", "voc", "imagefolder", "segmentation"]


class _Group(click.Group):
    """Library errors become a one-line reason and exit code 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (DSDLError, FileNotFoundError, FileExistsError, ValueError, KeyError) as exc:
            raise click.ClickException(str(exc).strip("'\"")) from None


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
def dsdl() -> None:
    """Datasets described in DSDL: validate, convert, inspect and draw them."""


@dsdl.command()
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--media-root", type=click.Path(path_type=Path), help="Where locators resolve.")
@click.option("--library", "library_path", type=click.Path(path_type=Path), help="$import path.")
@click.option("--no-media", is_flag=True, help="Do not check that media files exist.")
@click.option("--open-media", is_flag=True, help="Open images; LabelMaps must be 1-channel.")
@click.option("--report", type=click.Path(path_type=Path), help="Also write a Markdown report.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def validate(
    path: Path,
    media_root: Path | None,
    library_path: Path | None,
    no_media: bool,
    open_media: bool,
    report: Path | None,
    as_json: bool,
) -> None:
    """Validate a description file or a converted dataset folder."""
    from methods.dsdl.validate import validate as run

    result = run(
        path,
        library_path=library_path,
        media_root=media_root,
        check_media=not no_media,
        open_media=open_media,
    )
    if report is not None:
        report.write_text(result.to_markdown(), encoding="utf-8")
    if as_json:
        click.echo(json.dumps(result.as_dict(), indent=2))
    else:
        click.echo(result.summary())
        for problem in result.problems[:50]:
            click.echo(f"  {problem}")
        if len(result.problems) > 50 or result.dropped:
            click.echo(f"  ... {len(result.problems) - 50 + result.dropped} more")
    sys.exit(0 if result.ok else 1)


@dsdl.command()
@click.argument("source", type=click.Path(exists=True, path_type=Path))
@click.argument("out", type=click.Path(path_type=Path))
@click.option("--from", "src", type=click.Choice(FORMAT_CHOICES), required=True)
@click.option("--to", "dst", type=click.Choice(FORMAT_CHOICES), default="dsdl", show_default=True)
@click.option("--name", help="Dataset name for the DSDL meta section.")
@click.option(
    "--media",
    type=click.Choice(["copy", "reference"]),
    default="copy",
    show_default=True,
    help="Copy media into OUT/media, or point config.py at the source.",
)
def convert(source: Path, out: Path, src: str, dst: str, name: str | None, media: str) -> None:
    """Convert SOURCE (in format --from) to OUT (in format --to)."""
    from methods.dsdl.convert import convert as run

    written = run(source, out, src=src, dst=dst, name=name, media=media)  # type: ignore[arg-type]
    click.echo(f"wrote {dst} dataset to {written}")


@dsdl.command()
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the statistics as JSON.")
@click.option("--plot", type=click.Path(path_type=Path), help="Write the class histogram PNG.")
def info(path: Path, as_json: bool, plot: Path | None) -> None:
    """Counts, class histogram and box-size statistics."""
    from methods.dsdl.stats import describe, histogram_png

    stats = describe(path)
    if plot is not None:
        histogram_png(stats, plot)
    click.echo(json.dumps(stats.as_dict(), indent=2) if as_json else stats.text())


@dsdl.command()
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.argument("out", type=click.Path(path_type=Path))
@click.option("-n", "count", type=click.IntRange(min=1), default=4, show_default=True)
@click.option("--split", help="Which split (default: the first).")
def view(path: Path, out: Path, count: int, split: str | None) -> None:
    """Draw N samples with their boxes, polygons and masks as PNG files in OUT."""
    from methods.dsdl.view import view as run

    for written in run(path, out, n=count, split=split):
        click.echo(str(written))


@dsdl.command()
@click.argument("task", required=False)
@click.option("--out", type=click.Path(path_type=Path), help="Write it here instead of stdout.")
def template(task: str | None, out: Path | None) -> None:
    """Print a task template (no TASK: list the templates)."""
    from methods.dsdl.templates import TEMPLATES
    from methods.dsdl.templates import template as find

    if task is None:
        for key, t in TEMPLATES.items():
            click.echo(f"{key:<22} {t.task}  ->  {t.sample_type}")
        return
    t = find(task)
    if out is None:
        click.echo(t.text, nl=False)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(t.text, encoding="utf-8")
        click.echo(f"wrote {out}")


@dsdl.command()
@click.argument("fmt", type=click.Choice(["coco", "voc", "imagefolder", "segmentation"]))
@click.argument("out", type=click.Path(path_type=Path))
@click.option("--images", type=click.IntRange(min=1), default=8, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
def generate(fmt: str, out: Path, images: int, seed: int) -> None:
    """Write a small synthetic dataset in FMT (drawn shapes with known annotations)."""
    from methods.dsdl import generate as gen

    getattr(gen, f"generate_{fmt}")(out, images=images, seed=seed)
    click.echo(f"wrote {fmt} dataset to {out}")


def main() -> None:
    dsdl(prog_name="python -m methods.dsdl")
