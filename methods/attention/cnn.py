"""A small ResNet to test attention in, and `insert_attention` for torchvision/timm CNNs."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from methods.attention.registry import build_attention


def resnet8(num_classes: int = 10, width: int = 16, in_channels: int = 1) -> nn.Module:
    """ResNet-8: a stride-2 stem and three torchvision BasicBlocks (widths w, 2w, 4w)."""
    from torchvision.models.resnet import BasicBlock

    def block(cin: int, cout: int, stride: int) -> nn.Module:
        down = None
        if stride != 1 or cin != cout:
            down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
        return BasicBlock(cin, cout, stride, downsample=down)

    return nn.Sequential(
        nn.Sequential(
            nn.Conv2d(in_channels, width, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
        ),
        block(width, width, 1),
        block(width, 2 * width, 2),
        block(2 * width, 4 * width, 2),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(4 * width, num_classes),
    )


def _channels(module: nn.Module) -> int:
    for attr in ("num_features", "out_channels"):
        if isinstance(getattr(module, attr, None), int):
            return getattr(module, attr)
    for attr in ("bn3", "bn2"):  # a residual block: its output has its last norm's channels
        if isinstance(getattr(module, attr, None), nn.BatchNorm2d):
            return getattr(module, attr).num_features
    raise ValueError(
        f"cannot tell the output channels of {type(module).__name__}; "
        "name a BatchNorm2d, Conv2d or residual block"
    )


def block_outputs(model: nn.Module) -> list[str]:
    """The last norm of every residual block's branch (bn3 of a bottleneck, else bn2): where
    SE-ResNet puts its module, before the residual sum."""
    found = []
    for name, module in model.named_modules():
        for attr in ("bn3", "bn2"):
            if isinstance(getattr(module, attr, None), nn.Module):
                found.append(f"{name}.{attr}" if name else attr)
                break
    return found


def insert_attention(
    model: nn.Module, name: str, where: str | Sequence[str] = "blocks", **kw
) -> list[str]:
    """Add attention module `name` after each named submodule of `model`, in place.

    `where="blocks"` picks every residual block's last norm (torchvision and timm ResNets);
    otherwise give qualified submodule names (`model.named_modules()`). Returns the names of the
    inserted modules (each is `<where>.1`, inside a Sequential that replaced the submodule).
    """
    targets = block_outputs(model) if where == "blocks" else list(where)
    if isinstance(where, str) and where != "blocks":
        raise ValueError(f"where must be 'blocks' or a list of submodule names, got {where!r}")
    if not targets:
        raise ValueError(
            "where: found no residual blocks (submodules with bn2/bn3); pass submodule names"
        )
    known = dict(model.named_modules())
    inserted = []
    for target in targets:
        if target not in known:
            raise ValueError(f"where: {target!r} is not a submodule of the model")
        parent_name, _, attr = target.rpartition(".")
        parent = known[parent_name] if parent_name else model
        original = known[target]
        attention = build_attention(name, _channels(original), **kw)
        setattr(parent, attr, nn.Sequential(original, attention))
        inserted.append(f"{target}.1")
    return inserted


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
