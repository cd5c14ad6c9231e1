"""ImageNet ResNets (He et al. 2015) in Kaiming He's released Caffe layout.

ResNet-50/101/152 reproduce ``ResNet-{50,101,152}-deploy.prototxt`` exactly; 18/34 (never
released in Caffe) use the same naming with basic blocks ``branch2a``/``branch2b``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

from ..errors import UsageError
from ..ir import Net
from .blocks import (BNStyle, NetBuilder, Unit, basic_convs, block_letters, bn_style,
                     bottleneck_convs, check_positive, check_shortcut, final_activation,
                     residual_unit)
from .heads import IMAGENET_DATA, DataSpec, data_layers, finish, validated


@dataclass(frozen=True)
class ImageNetSpec:
    """One row of the paper's Table 1, plus the quirks of Kaiming's files."""
    kind: str                      # "basic" | "bottleneck"
    blocks: Tuple[int, ...]        # units in stages conv2_x .. conv5_x
    conv1_bias: bool               # only the released ResNet-50 has a conv1 bias
    numbered: Tuple[bool, ...]     # stage names units a, b1, b2, ... instead of a, b, c


_LETTERS = (False,) * 4
_NUMBERED = (False, True, True, False)  # 101/152: res3b1.., res4b1..; res2/res5 keep a,b,c

IMAGENET_DEPTHS = {
    18: ImageNetSpec("basic", (2, 2, 2, 2), False, _LETTERS),
    34: ImageNetSpec("basic", (3, 4, 6, 3), False, _LETTERS),
    50: ImageNetSpec("bottleneck", (3, 4, 6, 3), True, _LETTERS),
    101: ImageNetSpec("bottleneck", (3, 4, 23, 3), False, _NUMBERED),
    152: ImageNetSpec("bottleneck", (3, 8, 36, 3), False, _NUMBERED),
}
WIDTHS = (64, 128, 256, 512)
EXPANSION = 4  # bottleneck output channels = 4 x width


def imagenet_spec(depth: int) -> ImageNetSpec:
    """The table row for ``depth``; UsageError listing the valid depths otherwise."""
    spec = IMAGENET_DEPTHS.get(depth)
    if spec is None:
        valid = ", ".join(map(str, IMAGENET_DEPTHS))
        raise UsageError(f"unsupported ImageNet depth {depth!r}; valid depths: {valid} "
                         "(CIFAR ResNets have depth 6n+2: use n)")
    return spec


def _units(spec: ImageNetSpec, shortcut: str, preact: bool):
    """Yield the residual units of the four stages in order."""
    in_c = 64
    for s, (count, width, numbered) in enumerate(zip(spec.blocks, WIDTHS, spec.numbered)):
        out_c = width * EXPANSION if spec.kind == "bottleneck" else width
        for i, letter in enumerate(block_letters(count, numbered)):
            stride = 2 if (i == 0 and s > 0) else 1
            convs = (bottleneck_convs(width, out_c, stride) if spec.kind == "bottleneck"
                     else basic_convs(out_c, stride))
            yield Unit(f"{s + 2}{letter}", in_c, out_c, stride, convs, shortcut, preact,
                       first=(s == 0 and i == 0))
            in_c = out_c


def imagenet_resnet(depth: int = 50, *, shortcut: str = "B", preact: bool = False,
                    classes: int = 1000, input_size: int = 224, batch: Optional[int] = None,
                    name: Optional[str] = None, train: bool = False,
                    data: Optional[DataSpec] = None,
                    bn_momentum: Optional[float] = None) -> Net:
    """Build ImageNet ResNet-``depth`` (18, 34, 50, 101, 152) as a validated Net.

    ``shortcut`` is the paper's option (B, projections where the shape changes, is what the
    released models use); ``preact`` builds the pre-activation variant (He et al. 2016).
    ``batch`` defaults to 1 for deploy nets and the paper's 256 for train nets; ``data``
    replaces the train net's ImageNet Data layer facts (:class:`DataSpec`).
    """
    spec = imagenet_spec(depth)
    shortcut = check_shortcut(shortcut)
    batch = batch if batch is not None else (256 if train else 1)
    check_positive(classes=classes, input_size=input_size, batch=batch)
    b = NetBuilder(train=train, bn=bn_style(BNStyle(), bn_momentum))
    x = data_layers(b, data or IMAGENET_DATA, batch, input_size) if train else "data"
    x = b.conv("conv1", x, 64, 7, stride=2, pad=3, bias=spec.conv1_bias)
    b.bn_scale(x, "bn_conv1", "scale_conv1")
    b.relu("conv1_relu", x)
    x = b.pool("pool1", x, "MAX", kernel=3, stride=2)
    for unit in _units(spec, shortcut, preact):
        x = residual_unit(b, unit, x)
    if preact:
        final_activation(b, x)
    x = b.pool("pool5", x, "AVE", kernel=7, stride=1)
    x = b.fc(f"fc{classes}", x, classes)
    default = f"ResNet-{depth}" + ("-preact" if preact else "") + \
        ("" if shortcut == "B" else f"-{shortcut}")
    net = finish(b, name or default, x, batch, input_size)
    return validated(net, lambda: imagenet_resnet(
        depth, shortcut=shortcut, preact=preact, classes=classes, input_size=input_size,
        batch=batch, name=name, train=False))
