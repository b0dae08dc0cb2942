"""Opening an artifact in the app: images drawn inline, JSON pretty-printed, text shown as is.

Images are drawn with half-block characters (each cell shows two pixels, top as foreground and
bottom as background), which any colour terminal can display; with NO_COLOR they are not drawn
and the path is shown instead.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from rich.console import RenderableType
from rich.style import Style
from rich.syntax import Syntax
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp"}
TEXT_SUFFIXES = {".md", ".txt", ".csv", ".yaml", ".yml", ".log", ".py"}
MAX_TEXT_BYTES = 200_000


def render_artifact(path: Path, width: int = 76) -> RenderableType:
    """What the app shows for one artifact file."""
    if not path.is_file():
        return Text(f"{path} (missing)", style="red")
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES and not os.environ.get("NO_COLOR"):
        return half_block_image(path, width)
    if suffix == ".json" and path.stat().st_size <= MAX_TEXT_BYTES:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            return Text(f"{path}: not valid JSON ({exc})", style="red")
        return Syntax(json.dumps(data, indent=2), "json", word_wrap=True)
    if suffix in TEXT_SUFFIXES and path.stat().st_size <= MAX_TEXT_BYTES:
        return Text(path.read_text(encoding="utf-8", errors="replace"))
    return Text(f"{path} ({path.stat().st_size} bytes; open it outside the app)")


def half_block_image(path: Path, width: int) -> Text:
    """An image as rows of '▀' cells, `width` cells wide."""
    from PIL import Image

    with Image.open(path) as image:
        rgb = image.convert("RGB")
        scale = min(1.0, width / rgb.width)
        size = (max(1, int(rgb.width * scale)), max(2, int(rgb.height * scale)))
        pixels = rgb.resize(size).load()
        w, h = size
    text = Text()
    for y in range(0, h - 1, 2):
        for x in range(w):
            top, bottom = pixels[x, y], pixels[x, y + 1]
            text.append("▀", Style(color=f"rgb{top}", bgcolor=f"rgb{bottom}"))
        text.append("\n")
    return text


class ArtifactScreen(ModalScreen[None]):
    """One artifact, full screen; Escape closes it."""

    BINDINGS = [("escape", "dismiss", "Close")]

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="artifact"):
            yield Static(Text(str(self.path), style="bold"))
            yield Static(render_artifact(self.path), id="artifact-body")
