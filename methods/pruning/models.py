"""Face-recognition CNNs for pruning: mini and full backbones, embedding head, margin losses.

Every backbone maps images to an L2-free embedding (`EmbeddingNet`); the identity classifier is a
separate margin head (CosFace or ArcFace) kept outside the network, so the dependency graph that
Torch-Pruning traces never couples the class weights with the filters being removed.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class EmbeddingNet(nn.Module):
    """A backbone (images -> feature maps) followed by pooling, a linear embedding and BN.

    `head` is the last layer and must keep its width: pass it as an ignored layer when pruning
    (`prune()` does this for an EmbeddingNet).
    """

    def __init__(self, features: nn.Module, feature_dim: int, embedding_dim: int = 64) -> None:
        super().__init__()
        self.features = features
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(feature_dim, embedding_dim, bias=False)
        self.head_bn = nn.BatchNorm1d(embedding_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, D)
        return self.head_bn(self.head(self.pool(self.features(x)).flatten(1)))


class MarginHead(nn.Module):
    """Normalised class weights with an additive margin: CosFace (cos - m) or ArcFace cos(t + m)."""

    def __init__(
        self,
        embedding_dim: int,
        n_classes: int,
        kind: str = "cosface",
        scale: float = 16.0,
        margin: float = 0.2,
    ) -> None:
        super().__init__()
        if kind not in ("cosface", "arcface"):
            raise ValueError(f"kind must be 'cosface' or 'arcface', got {kind!r}")
        if n_classes < 2:
            raise ValueError(f"n_classes must be at least 2, got {n_classes}")
        self.kind, self.scale, self.margin = kind, scale, margin
        self.weight = nn.Parameter(torch.randn(n_classes, embedding_dim) / math.sqrt(embedding_dim))

    def cosine(self, embedding: torch.Tensor) -> torch.Tensor:  # (B, D) -> (B, K)
        return F.normalize(embedding, dim=1) @ F.normalize(self.weight, dim=1).T

    def forward(self, embedding: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The margin-softmax loss of a batch."""
        cos = self.cosine(embedding)
        target = cos.gather(1, labels[:, None])
        if self.kind == "cosface":
            target_m = target - self.margin
        else:
            theta = torch.acos(target.clamp(-1 + 1e-6, 1 - 1e-6))
            target_m = torch.cos(theta + self.margin)
        logits = cos.scatter(1, labels[:, None], target_m)
        return F.cross_entropy(self.scale * logits, labels)


def _conv_bn(c_in: int, c_out: int, stride: int = 1, kernel: int = 3) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


def mini_mobilenetv2(
    in_channels: int = 1, embedding_dim: int = 64, width: float = 1.0
) -> EmbeddingNet:
    """MobileNetV2 shape (torchvision's InvertedResidual blocks: depthwise convs, residual adds)
    sized for 32 px inputs; about 100k parameters at width 1."""
    from torchvision.models.mobilenetv2 import InvertedResidual

    def w(c: int) -> int:
        return max(8, int(round(c * width / 8)) * 8)

    # (expansion t, channels c, repeats n, first stride s), as in the MobileNetV2 paper's table
    setting = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 48, 2, 1)]
    layers: list[nn.Module] = [_conv_bn(in_channels, w(16), stride=2)]
    c_in = w(16)
    for t, c, n, s in setting:
        for i in range(n):
            layers.append(InvertedResidual(c_in, w(c), s if i == 0 else 1, t))
            c_in = w(c)
    layers.append(_conv_bn(c_in, w(128), kernel=1))
    return EmbeddingNet(nn.Sequential(*layers), w(128), embedding_dim)


def mini_resnet(in_channels: int = 1, embedding_dim: int = 64, width: float = 1.0) -> EmbeddingNet:
    """ResNet shape (torchvision's BasicBlock, residual stages with 1x1 downsampling) for 32 px
    inputs; about 100k parameters at width 1."""
    from torchvision.models.resnet import BasicBlock

    def w(c: int) -> int:
        return max(4, int(round(c * width / 4)) * 4)

    widths = [w(16), w(32), w(40)]
    layers: list[nn.Module] = [_conv_bn(in_channels, widths[0], stride=2)]
    c_in = widths[0]
    for i, c in enumerate(widths):
        stride = 1 if i == 0 else 2
        down = None
        if stride != 1 or c_in != c:
            down = nn.Sequential(nn.Conv2d(c_in, c, 1, stride, bias=False), nn.BatchNorm2d(c))
        layers += [BasicBlock(c_in, c, stride, down), BasicBlock(c, c)]
        c_in = c
    return EmbeddingNet(nn.Sequential(*layers), c_in, embedding_dim)


def _bn_after_convs(module: nn.Module) -> nn.Module:
    """Insert BatchNorm after every conv (SqueezerFaceNet adds BN to SqueezeNet)."""
    for name, child in module.named_children():
        if isinstance(child, nn.Conv2d):
            setattr(module, name, nn.Sequential(child, nn.BatchNorm2d(child.out_channels)))
        else:
            _bn_after_convs(child)
    return module


def squeezenet_bn(in_channels: int = 3, embedding_dim: int = 128) -> EmbeddingNet:
    """torchvision SqueezeNet 1.0 (the face paper's) with BN after each conv, a 3x3 stride-1 stem
    for small inputs, and its classifier conv replaced by the embedding head."""
    from torchvision.models import squeezenet1_0

    features = squeezenet1_0(weights=None).features
    features[0] = nn.Conv2d(in_channels, 96, 3, 1, 1)
    features[2] = nn.Identity()  # keep resolution: inputs are 32-112 px, not 224
    return EmbeddingNet(_bn_after_convs(features), 512, embedding_dim)


def mobilenetv2(in_channels: int = 3, embedding_dim: int = 128) -> EmbeddingNet:
    """torchvision MobileNetV2 (width 1) with a stride-1 stem for small inputs."""
    from torchvision.models import mobilenet_v2

    features = mobilenet_v2(weights=None).features
    features[0][0] = nn.Conv2d(in_channels, 32, 3, 1, 1, bias=False)
    return EmbeddingNet(features, 1280, embedding_dim)


def resnet50(in_channels: int = 3, embedding_dim: int = 128) -> EmbeddingNet:
    """torchvision ResNet-50 with a 3x3 stride-1 stem and no max-pool, for small inputs."""
    from torchvision.models import resnet50 as tv_resnet50

    net = tv_resnet50(weights=None)
    stem = nn.Sequential(nn.Conv2d(in_channels, 64, 3, 1, 1, bias=False), net.bn1, net.relu)
    features = nn.Sequential(stem, net.layer1, net.layer2, net.layer3, net.layer4)
    return EmbeddingNet(features, 2048, embedding_dim)


BACKBONES = {
    "mini_mobilenetv2": mini_mobilenetv2,
    "mini_resnet": mini_resnet,
    "squeezenet": squeezenet_bn,
    "mobilenetv2": mobilenetv2,
    "resnet50": resnet50,
}


def build_backbone(name: str, in_channels: int, embedding_dim: int = 64) -> EmbeddingNet:
    """A backbone from BACKBONES by name."""
    if name not in BACKBONES:
        raise ValueError(f"backbone must be one of {sorted(BACKBONES)}, got {name!r}")
    return BACKBONES[name](in_channels=in_channels, embedding_dim=embedding_dim)
