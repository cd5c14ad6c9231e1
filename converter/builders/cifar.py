"""CIFAR ResNets with 6n+2 layers (He et al. 2015, section 4.2), original or pre-activation.

conv1 3x3/16, then three stages of n basic units with 16, 32, 64 filters (the first unit of
stages 3 and 4 halves the feature map), global average pooling, fc, softmax. Stages are
numbered 2..4 so names follow the ImageNet files: ``res2a_branch2a``, ``res3a``, ...
"""

from __future__ import annotations

from typing import Optional

from ..ir import Net
from .blocks import (BNStyle, NetBuilder, Unit, basic_convs, block_letters, bn_style,
                     check_positive, check_shortcut, final_activation, residual_unit)
from .heads import CIFAR_DATA, DataSpec, data_layers, finish, validated

CIFAR_WIDTHS = (16, 32, 64)
#: n of the paper's Table 6 (ResNet-20/32/44/56/110); any n >= 1 is accepted.
PAPER_NS = (3, 5, 7, 9, 18)


def cifar_depth(n: int) -> int:
    """Number of weighted layers of the CIFAR ResNet with n units per stage."""
    return 6 * n + 2


def _units(n: int, shortcut: str, preact: bool):
    in_c = 16
    # More than 26 units per stage run out of letters: switch to Kaiming's a, b1, b2, ...
    letters = block_letters(n, numbered=n > 26)
    for s, width in enumerate(CIFAR_WIDTHS):
        for i, letter in enumerate(letters):
            stride = 2 if (i == 0 and s > 0) else 1
            yield Unit(f"{s + 2}{letter}", in_c, width, stride, basic_convs(width, stride),
                       shortcut, preact, first=(s == 0 and i == 0))
            in_c = width


def cifar_resnet(n: int = 3, *, shortcut: str = "A", preact: bool = False, classes: int = 10,
                 input_size: int = 32, batch: Optional[int] = None, name: Optional[str] = None,
                 train: bool = False, data: Optional[DataSpec] = None,
                 bn_momentum: Optional[float] = None) -> Net:
    """Build the CIFAR ResNet-(6n+2) as a validated Net.

    ``shortcut``: "A" zero-padded identity (the paper's CIFAR choice), "B" 1x1 projections
    where the shape changes, "C" projections everywhere. ``batch`` defaults to 1 for deploy
    nets and the paper's 128 for train nets; ``data`` replaces the train net's CIFAR Data
    layer facts (:class:`DataSpec`).
    """
    shortcut = check_shortcut(shortcut)
    batch = batch if batch is not None else (128 if train else 1)
    check_positive(n=n, classes=classes, input_size=input_size, batch=batch)
    b = NetBuilder(train=train, bn=bn_style(BNStyle(), bn_momentum))
    x = data_layers(b, data or CIFAR_DATA, batch, input_size) if train else "data"
    x = b.conv("conv1", x, 16, 3, stride=1, pad=1)
    # Pre-activation nets also activate conv1 here, "before splitting into two paths".
    b.bn_scale(x, "bn_conv1", "scale_conv1")
    b.relu("conv1_relu", x)
    for unit in _units(n, shortcut, preact):
        x = residual_unit(b, unit, x)
    if preact:
        final_activation(b, x)
    x = b.pool("global_pool", x, "AVE", global_pooling=True)
    x = b.fc(f"fc{classes}", x, classes)
    default = f"ResNet-{cifar_depth(n)}-CIFAR-{shortcut}" + ("-preact" if preact else "")
    net = finish(b, name or default, x, batch, input_size)
    return validated(net, lambda: cifar_resnet(
        n, shortcut=shortcut, preact=preact, classes=classes, input_size=input_size,
        batch=batch, name=name, train=False))
