"""Domain-generalisation data: Digits-DG (scikit-learn digits in six styles) and image folders."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

DOMAINS = ("clean", "inverted", "coloured", "textured", "noisy", "sketch")
DIGIT_NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")


@dataclass
class DGData:
    """Images (N, 3, H, W) float32 in [0, 1], class and domain indices, and their names."""

    images: np.ndarray
    labels: np.ndarray
    domains: np.ndarray
    class_names: tuple[str, ...]
    domain_names: tuple[str, ...]
    index: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def __post_init__(self) -> None:
        if self.images.ndim != 4 or self.images.shape[1] != 3:
            raise ValueError(f"images must have shape (N, 3, H, W), got {self.images.shape}")
        n = len(self.images)
        if n == 0:
            raise ValueError("images is empty: a data set needs at least one image")
        if len(self.labels) != n or len(self.domains) != n:
            raise ValueError(
                f"labels ({len(self.labels)}) and domains ({len(self.domains)}) must match "
                f"images ({n})"
            )
        if not np.isfinite(self.images).all():
            raise ValueError("images contains NaN or infinite values")
        if len(self.index) == 0:
            self.index = np.arange(n)

    def __len__(self) -> int:
        return len(self.images)

    def subset(self, rows: np.ndarray) -> DGData:
        rows = np.asarray(rows)
        return DGData(
            self.images[rows],
            self.labels[rows],
            self.domains[rows],
            self.class_names,
            self.domain_names,
            self.index[rows],
        )

    def domain(self, name: str) -> DGData:
        """The images of one domain, by name."""
        if name not in self.domain_names:
            raise ValueError(f"domain must be one of {self.domain_names}, got {name!r}")
        return self.subset(np.flatnonzero(self.domains == self.domain_names.index(name)))


def _hsv_to_rgb(h: np.ndarray, s: float, v: float) -> np.ndarray:
    """Hues in [0, 1) to RGB rows, at one saturation and value."""
    k = (np.array([5.0, 3.0, 1.0])[None] + h[:, None] * 6.0) % 6.0
    return v - v * s * np.clip(np.minimum(k, 4.0 - k), 0.0, 1.0)


def _textures(n: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """Random crops of the photographs scikit-learn ships (china.jpg, flower.jpg), (n, 3, s, s)."""
    from sklearn.datasets import load_sample_image

    photos = [load_sample_image(name) for name in ("china.jpg", "flower.jpg")]
    out = np.empty((n, 3, size, size), dtype=np.float32)
    for i in range(n):
        photo = photos[rng.integers(len(photos))]
        crop = int(rng.integers(size, 3 * size))
        y = rng.integers(photo.shape[0] - crop)
        x = rng.integers(photo.shape[1] - crop)
        step = crop / size
        rows = (y + np.arange(size) * step).astype(int)
        cols = (x + np.arange(size) * step).astype(int)
        out[i] = photo[rows][:, cols].transpose(2, 0, 1) / 255.0
    return out


def render_domain(glyphs: np.ndarray, domain: str, rng: np.random.Generator) -> np.ndarray:
    """Draw grayscale glyphs (N, s, s) in [0, 1] in one Digits-DG style, as (N, 3, s, s)."""
    from scipy import ndimage

    g = glyphs[:, None].astype(np.float32)
    n, size = len(glyphs), glyphs.shape[-1]
    if domain == "clean":
        out = np.repeat(g, 3, axis=1)
    elif domain == "inverted":
        out = 1.0 - np.repeat(g, 3, axis=1)
    elif domain == "coloured":
        fg_hue = rng.random(n)
        bg_hue = (fg_hue + rng.uniform(0.25, 0.75, n)) % 1.0  # keep the two hues apart
        fg = _hsv_to_rgb(fg_hue, 0.9, 1.0)[:, :, None, None]
        bg = _hsv_to_rgb(bg_hue, 0.8, 0.6)[:, :, None, None]
        out = g * fg + (1.0 - g) * bg
    elif domain == "textured":
        out = g + (1.0 - g) * 0.8 * _textures(n, size, rng)
    elif domain == "noisy":
        out = np.repeat(g, 3, axis=1) + rng.normal(0.0, 0.3, (n, 1, size, size))
        salt = rng.random((n, 1, size, size))
        out = np.where(salt < 0.03, 0.0, np.where(salt > 0.97, 1.0, out))
    elif domain == "sketch":
        edges = np.hypot(
            ndimage.sobel(glyphs, axis=1, mode="constant"),
            ndimage.sobel(glyphs, axis=2, mode="constant"),
        )
        edges = ndimage.gaussian_filter(edges, sigma=(0, 0.7, 0.7))
        edges /= edges.reshape(n, -1).max(1)[:, None, None] + 1e-6
        out = np.repeat(1.0 - edges[:, None], 3, axis=1)  # dark strokes on white paper
    else:
        raise ValueError(f"domain must be one of {DOMAINS}, got {domain!r}")
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def digits_dg(
    domains: tuple[str, ...] | list[str] = DOMAINS, size: int = 32, seed: int = 0
) -> DGData:
    """Every scikit-learn digit drawn in each domain; row i of each domain is the same digit."""
    import torch
    from sklearn.datasets import load_digits

    if not domains:
        raise ValueError("domains is empty: name at least one of " + ", ".join(DOMAINS))
    for d in domains:
        if d not in DOMAINS:
            raise ValueError(f"domains must be drawn from {DOMAINS}, got {d!r}")
    if size < 8:
        raise ValueError(f"size must be at least 8 pixels, got {size}")
    digits = load_digits()
    small = torch.from_numpy(digits.images / 16.0).float()[:, None]
    glyphs = torch.nn.functional.interpolate(small, size=size, mode="bilinear").numpy()[:, 0]
    images, labels, dom = [], [], []
    for i, name in enumerate(domains):
        rng = np.random.default_rng([seed, DOMAINS.index(name)])
        images.append(render_domain(glyphs, name, rng))
        labels.append(digits.target)
        dom.append(np.full(len(glyphs), i))
    n = len(glyphs)
    return DGData(
        np.concatenate(images),
        np.concatenate(labels).astype(np.int64),
        np.concatenate(dom).astype(np.int64),
        DIGIT_NAMES,
        tuple(domains),
        np.tile(np.arange(n), len(domains)),
    )


def read_images(paths: list[Path], size: int) -> np.ndarray:
    """Image files as (N, 3, size, size) float32 in [0, 1]."""
    from PIL import Image

    out = np.empty((len(paths), 3, size, size), dtype=np.float32)
    for i, path in enumerate(paths):
        with Image.open(path) as img:
            rgb = img.convert("RGB").resize((size, size), Image.BILINEAR)
        out[i] = np.asarray(rgb, dtype=np.float32).transpose(2, 0, 1) / 255.0
    return out


def image_files(folder: str | Path) -> list[Path]:
    """The image files under a folder, sorted, at any depth."""
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"folder {str(root)!r} does not exist or is not a directory")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ValueError(f"folder {str(root)!r} holds no images ({', '.join(IMAGE_SUFFIXES)})")
    return files


def load_image_folder(root: str | Path, size: int = 32) -> DGData:
    """A PACS / Office-Home layout, `root/<domain>/<class>/<image>`, as one DGData."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"root {str(root)!r} does not exist or is not a directory")
    domain_dirs = sorted(p for p in root.iterdir() if p.is_dir())
    if not domain_dirs:
        raise ValueError(f"root {str(root)!r} has no domain folders (root/<domain>/<class>/...)")
    classes = sorted({c.name for d in domain_dirs for c in d.iterdir() if c.is_dir()})
    if not classes:
        raise ValueError(f"root {str(root)!r} has no class folders (root/<domain>/<class>/...)")
    paths, labels, domains = [], [], []
    for di, d in enumerate(domain_dirs):
        for ci, c in enumerate(classes):
            if not (d / c).is_dir():
                continue
            files = sorted(p for p in (d / c).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            paths += files
            labels += [ci] * len(files)
            domains += [di] * len(files)
    if not paths:
        raise ValueError(f"root {str(root)!r} holds no images in its class folders")
    return DGData(
        read_images(paths, size),
        np.asarray(labels, dtype=np.int64),
        np.asarray(domains, dtype=np.int64),
        tuple(classes),
        tuple(d.name for d in domain_dirs),
    )
