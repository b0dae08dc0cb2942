"""Identity data for recognition and verification: digits rendered as 32 px "faces"; folders."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".pgm", ".ppm", ".tif", ".tiff")


@dataclass
class IdentitySet:
    """Images (N, C, H, W) in [0, 1] and identity labels 0..K-1 (N,)."""

    images: torch.Tensor
    labels: torch.Tensor
    names: list[str]

    def __post_init__(self) -> None:
        if self.images.ndim != 4:
            raise ValueError(f"images must be (N, C, H, W), got shape {tuple(self.images.shape)}")
        if len(self.images) == 0:
            raise ValueError("images is empty: an identity set needs at least one image")
        if len(self.labels) != len(self.images):
            raise ValueError(
                f"labels has {len(self.labels)} entries but images has {len(self.images)}"
            )
        if not torch.isfinite(self.images).all():
            raise ValueError("images contains NaN or infinite values")

    def __len__(self) -> int:
        return len(self.images)

    @property
    def n_classes(self) -> int:
        return int(self.labels.max()) + 1

    def subset(self, idx: np.ndarray | torch.Tensor) -> IdentitySet:
        idx = torch.as_tensor(idx, dtype=torch.long)
        return IdentitySet(self.images[idx], self.labels[idx], self.names)

    def split(self, test_fraction: float, seed: int = 0) -> tuple[IdentitySet, IdentitySet]:
        """A stratified split: each identity contributes `test_fraction` of its images to test."""
        if not 0 < test_fraction < 1:
            raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
        rng = np.random.default_rng(seed)
        train, test = [], []
        for k in torch.unique(self.labels).tolist():
            idx = rng.permutation(np.flatnonzero(self.labels.numpy() == k))
            n_test = max(1, int(round(test_fraction * len(idx))))
            test += idx[:n_test].tolist()
            train += idx[n_test:].tolist()
        return self.subset(np.sort(train)), self.subset(np.sort(test))


def _render(images_8: np.ndarray, size: int, glyph: int) -> torch.Tensor:
    """8x8 digits (0-16) -> (N, 1, size, size): upsampled to `glyph` px, centred on a canvas."""
    x = torch.as_tensor(images_8, dtype=torch.float32).reshape(-1, 1, 8, 8) / 16.0
    x = F.interpolate(x, size=(glyph, glyph), mode="bilinear", align_corners=False)
    pad = (size - glyph) // 2
    return F.pad(x, (pad, size - glyph - pad, pad, size - glyph - pad))


def digits_identities(
    identities: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6), size: int = 32
) -> IdentitySet:
    """scikit-learn's bundled digits as identities, rendered at `size` px (a 24 px glyph at 32)."""
    from sklearn.datasets import load_digits

    if size < 12:
        raise ValueError(f"size must be at least 12 px, got {size}")
    if not identities or any(not 0 <= d <= 9 for d in identities):
        raise ValueError(f"identities must be digits 0-9, got {identities}")
    digits = load_digits()
    keep = np.isin(digits.target, identities)
    relabel = {d: i for i, d in enumerate(identities)}
    labels = torch.as_tensor([relabel[int(t)] for t in digits.target[keep]])
    images = _render(digits.data[keep], size, glyph=(3 * size) // 4)
    return IdentitySet(images, labels, [str(d) for d in identities])


def augment(images: torch.Tensor, generator: torch.Generator, shift: int = 3) -> torch.Tensor:
    """Random translations of up to `shift` px and horizontal contrast jitter (training only)."""
    n, _, h, w = images.shape
    padded = F.pad(images, (shift, shift, shift, shift))
    dx = torch.randint(0, 2 * shift + 1, (n,), generator=generator)
    dy = torch.randint(0, 2 * shift + 1, (n,), generator=generator)
    out = torch.stack([padded[i, :, dy[i] : dy[i] + h, dx[i] : dx[i] + w] for i in range(n)])
    gain = 0.8 + 0.4 * torch.rand(n, 1, 1, 1, generator=generator)
    return (out * gain).clamp(0, 1)


def load_image_folder(
    root: str | Path, size: int = 32, grayscale: bool = False, min_images: int = 2
) -> IdentitySet:
    """A face data set on disk laid out as `root/<identity>/<image>` (VGGFace2, LFW style).

    Images are resized (short side) and centre-cropped to `size`; identities with fewer than
    `min_images` images are skipped, since they cannot form genuine verification pairs.
    """
    from PIL import Image

    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"root {root} is not a folder of identity sub-folders")
    images, labels, names = [], [], []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if len(files) < min_images:
            continue
        for f in files:
            with Image.open(f) as img:
                img = img.convert("L" if grayscale else "RGB")
                scale = size / min(img.size)
                img = img.resize(
                    (max(size, round(img.width * scale)), max(size, round(img.height * scale)))
                )
                left, top = (img.width - size) // 2, (img.height - size) // 2
                arr = np.asarray(img.crop((left, top, left + size, top + size)), np.float32) / 255
            images.append(arr[None] if grayscale else arr.transpose(2, 0, 1))
            labels.append(len(names))
        names.append(folder.name)
    if not images:
        raise ValueError(
            f"root {root} has no identity folder with at least {min_images} images "
            f"({', '.join(IMAGE_SUFFIXES)})"
        )
    return IdentitySet(torch.as_tensor(np.stack(images)), torch.as_tensor(labels), names)
