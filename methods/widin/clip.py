"""The CLIP-like path: an image tower trained contrastively against the frozen text encoder.

LiT-style ("locked text"): a SmallCNN plus a linear projection into the text encoder's
sentence space, trained with a symmetric InfoNCE against captions such as "a sketched picture
of the digit three" over a pretraining pool of styles. The text side is frozen, so the joint
space is the text encoder's own and a pseudo-word's wording lives beside the image embedding.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from methods.widin.encoders import SmallCNN, geometric_augment
from methods.widin.text import TextEncoder

Progress = Callable[[float, str], None]

# Several words per style so the tower learns the style, not one token of one caption.
STYLE_WORDS: dict[str, tuple[str, ...]] = {
    "clean": ("clean", "plain", "simple"),
    "inverted": ("inverted", "negative", "reversed"),
    "coloured": ("coloured", "colourful", "painted"),
    "textured": ("textured", "patterned", "photographic"),
    "noisy": ("noisy", "grainy", "corrupted"),
    "sketch": ("sketched", "outlined", "drawn"),
}
CAPTION_TEMPLATES = (
    "a {style} picture of the digit {name}",
    "a {style} image of the number {name}",
)


class ClipTower(nn.Module):
    """E_v of the joint space: SmallCNN features, linearly projected, unit length."""

    def __init__(self, width: int = 32, dim: int = 128, dim_text: int = 384) -> None:
        super().__init__()
        self.cnn = SmallCNN(width, dim)
        self.proj = nn.Linear(dim, dim_text)
        self.width, self.dim, self.dim_text = width, dim, dim_text

    def forward(self, images: torch.Tensor) -> torch.Tensor:  # (B, 3, H, W) -> (B, dim_text)
        return F.normalize(self.proj(self.cnn(images)), dim=1)


@dataclass(frozen=True)
class ClipConfig:
    epochs: int = 15
    batch_size: int = 256
    lr: float = 2e-3
    temperature: float = 0.07  # initial; learnable as in CLIP
    width: int = 32
    dim: int = 128


@dataclass
class CaptionBank:
    """Every caption of a (class, style) pair, embedded once: the tower's training targets.

    `pair[j]` is the (class, style) group of caption j, so captions of one group are positives
    of each other (a batch holds many images of one digit in one style).
    """

    embeddings: torch.Tensor  # (n_captions, dim_text), unit rows
    pair: torch.Tensor  # (n_captions,) class * n_styles + style
    styles: tuple[str, ...]
    n_classes: int


def caption_bank(
    text: TextEncoder, class_names: tuple[str, ...], styles: tuple[str, ...]
) -> CaptionBank:
    """Embed every caption of every (class, style) pair with the frozen text encoder."""
    if not styles:
        raise ValueError("styles is empty: name at least one pretraining style")
    unknown = [s for s in styles if s not in STYLE_WORDS]
    if unknown:
        raise ValueError(f"styles must be drawn from {tuple(STYLE_WORDS)}, got {unknown}")
    texts, pair = [], []
    for c, name in enumerate(class_names):
        for s, style in enumerate(styles):
            for word in STYLE_WORDS[style]:
                for template in CAPTION_TEMPLATES:
                    texts.append(template.format(style=word, name=name))
                    pair.append(c * len(styles) + s)
    embeddings = torch.cat([text.encode(texts[i : i + 256]) for i in range(0, len(texts), 256)])
    return CaptionBank(embeddings, torch.tensor(pair), tuple(styles), len(class_names))


def train_clip_tower(
    images: np.ndarray,
    labels: np.ndarray,
    styles: np.ndarray,
    bank: CaptionBank,
    config: ClipConfig = ClipConfig(),
    seed: int = 0,
    progress: Progress | None = None,
) -> ClipTower:
    """Train a ClipTower on (image, class, style) triples against the frozen caption bank.

    `styles` index `bank.styles`. Each step draws one caption per image among its group's
    variants; the symmetric InfoNCE counts every same-group pair in the batch as a positive.
    """
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"images must have shape (N, 3, H, W), got {images.shape}")
    if not (len(images) == len(labels) == len(styles)):
        raise ValueError(
            f"labels ({len(labels)}) and styles ({len(styles)}) must match images ({len(images)})"
        )
    if len(images) < 2:
        raise ValueError(f"images needs at least 2 images for contrastive pairs, got {len(images)}")
    if labels.min() < 0 or labels.max() >= bank.n_classes:
        raise ValueError(f"labels must lie in [0, {bank.n_classes}), got {labels.min()}..")
    if styles.min() < 0 or styles.max() >= len(bank.styles):
        raise ValueError(f"styles must index bank.styles {bank.styles}, got {styles.max()}")
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    tower = ClipTower(config.width, config.dim, bank.embeddings.shape[1])
    logit_scale = nn.Parameter(torch.tensor(np.log(1 / config.temperature), dtype=torch.float32))
    opt = torch.optim.AdamW([*tower.parameters(), logit_scale], lr=config.lr, weight_decay=1e-4)
    data = torch.from_numpy(images)
    group = torch.from_numpy(labels * len(bank.styles) + styles)
    # every group has the same number of caption variants (style words x templates)
    members = torch.stack(
        [torch.nonzero(bank.pair == g).flatten() for g in range(int(bank.pair.max()) + 1)]
    )
    batch = min(config.batch_size, len(data))
    steps_per_epoch = max(1, len(data) // batch)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, config.epochs * steps_per_epoch)
    tower.train()
    for epoch in range(config.epochs):
        order = torch.randperm(len(data), generator=gen)
        total = 0.0
        for step in range(steps_per_epoch):
            rows = order[step * batch : (step + 1) * batch]
            g = group[rows]
            variant = torch.randint(members.shape[1], (len(g),), generator=gen)
            pick = members[g, variant]
            img = tower(geometric_augment(data[rows], gen))
            logits = logit_scale.exp().clamp(max=100.0) * img @ bank.embeddings[pick].T
            positive = (g[:, None] == g[None, :]).float()
            target = positive / positive.sum(1, keepdim=True)
            # positives are symmetric, so one row-normalised target serves both directions
            loss = 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item()
        if progress:
            progress(
                (epoch + 1) / config.epochs,
                f"CLIP-like tower epoch {epoch + 1}: {total / steps_per_epoch:.3f}",
            )
    return tower.eval()


def zero_shot(image_text: np.ndarray, t_c: np.ndarray) -> np.ndarray:
    """Zero-shot classes: the nearest class sentence to each joint-space image embedding."""
    if image_text.ndim != 2 or t_c.ndim != 2 or image_text.shape[1] != t_c.shape[1]:
        raise ValueError(
            f"image_text {image_text.shape} and t_c {t_c.shape} must be (N, d) and (C, d)"
        )
    return (image_text @ t_c.T).argmax(1)
