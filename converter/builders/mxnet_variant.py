"""The CIFAR ResNet of the old MXNet example (``ConvFactory``/``ResidualFactory``/
``ResidualSymbol(n)``) that this project grew from, written as a Caffe net.

Differences from the paper's CIFAR nets, kept on purpose so the conversion is exact:

* unit = conv3x3-BN-ReLU, conv3x3, add the shortcut, then BN-ReLU *after* the addition;
* where the width doubles, the first conv has stride 2 and the shortcut is a stride-2 conv
  projection without BN (3x3 in that code, 1x1 with ``proj_kernel=1``);
* every convolution has a bias (MXNet's ``no_bias=False`` default);
* BatchNorm uses MXNet's defaults: eps 1e-3, momentum 0.9 and a gamma fixed at 1
  (``fix_gamma``), so the Scale's gamma is frozen (``lr_mult: 0``);
* the classifier pools with a 7x7 average window, stride 1 (as the original code did; on
  32x32 inputs that leaves 2x2 positions, so fc sees 256 features).
"""

from __future__ import annotations

from typing import Optional

from ..errors import UsageError
from ..ir import Net
from .blocks import BNStyle, NetBuilder, bn_style, block_letters, check_positive
from .cifar import CIFAR_WIDTHS
from .heads import CIFAR_DATA, DataSpec, data_layers, finish, validated

MXNET_BN = BNStyle(eps=1e-3, moving_average_fraction=0.9, fix_gamma=True)


def _bn_relu(b: NetBuilder, blob: str, tag: str) -> None:
    b.bn_scale(blob, f"bn{tag}", f"scale{tag}")
    b.relu(f"{blob}_relu", blob)


def _unit(b: NetBuilder, tag: str, bottom: str, width: int, diff_dim: bool,
          proj_kernel: int) -> str:
    """One ``ResidualFactory``: returns the blob after the post-addition BN-ReLU."""
    stride = 2 if diff_dim else 1
    short = bottom
    if diff_dim:
        short = b.conv(f"res{tag}_branch1", bottom, width, proj_kernel, stride=2,
                       pad=proj_kernel // 2, bias=True)
    x = b.conv(f"res{tag}_branch2a", bottom, width, 3, stride=stride, pad=1, bias=True)
    _bn_relu(b, x, f"{tag}_branch2a")
    x = b.conv(f"res{tag}_branch2b", x, width, 3, stride=1, pad=1, bias=True)
    out = b.eltwise(f"res{tag}", [short, x])
    _bn_relu(b, out, tag)
    return out


def mxnet_cifar_resnet(n: int = 9, *, proj_kernel: int = 3, classes: int = 10,
                       input_size: int = 32, batch: Optional[int] = None,
                       name: Optional[str] = None, train: bool = False,
                       data: Optional[DataSpec] = None,
                       bn_momentum: Optional[float] = None) -> Net:
    """Build the MXNet-example CIFAR ResNet with n units per stage (its default was 9).

    ``proj_kernel`` (3 or 1) is the kernel of the stride-2 shortcut projections; ``data``
    replaces the train net's CIFAR Data layer facts (:class:`DataSpec`).
    """
    if proj_kernel not in (1, 3):
        raise UsageError(f"proj_kernel must be 1 or 3, got {proj_kernel!r}")
    batch = batch if batch is not None else (128 if train else 1)
    check_positive(n=n, classes=classes, input_size=input_size, batch=batch)
    b = NetBuilder(train=train, bn=bn_style(MXNET_BN, bn_momentum))
    x = data_layers(b, data or CIFAR_DATA, batch, input_size) if train else "data"
    x = b.conv("conv1", x, 16, 3, stride=1, pad=1, bias=True)
    _bn_relu(b, x, "_conv1")
    letters = block_letters(n, numbered=n > 26)
    for s, width in enumerate(CIFAR_WIDTHS):
        for i, letter in enumerate(letters):
            x = _unit(b, f"{s + 2}{letter}", x, width, i == 0 and s > 0, proj_kernel)
    x = b.pool("pool", x, "AVE", kernel=7, stride=1)
    x = b.fc(f"fc{classes}", x, classes)
    default = f"ResNet-{6 * n + 2}-CIFAR-mxnet" + ("" if proj_kernel == 3 else "-proj1x1")
    net = finish(b, name or default, x, batch, input_size)
    return validated(net, lambda: mxnet_cifar_resnet(
        n, proj_kernel=proj_kernel, classes=classes, input_size=input_size, batch=batch,
        name=name, train=False))
