"""ResNet builders: every supported variant as a validated :class:`converter.ir.Net`.

Families (each also callable directly):

* :func:`imagenet_resnet` -- ImageNet ResNet-18/34/50/101/152 in Kaiming He's Caffe layout;
* :func:`cifar_resnet` -- CIFAR ResNet-(6n+2), shortcut options A/B/C;
* :func:`mxnet_cifar_resnet` -- the old MXNet example's CIFAR ResNet.

Both paper families have a pre-activation form (``preact=True``). :func:`build` picks the
family from its arguments, as ``resnet-gen`` does.
"""

from __future__ import annotations

from typing import Optional

from ..errors import UsageError
from ..ir import Net
from .cifar import PAPER_NS, cifar_depth, cifar_resnet
from .heads import CIFAR_DATA, IMAGENET_DATA, DataSpec
from .imagenet import IMAGENET_DEPTHS, imagenet_resnet
from .mxnet_variant import mxnet_cifar_resnet

__all__ = ["build", "imagenet_resnet", "cifar_resnet", "mxnet_cifar_resnet", "family_of",
           "IMAGENET_DEPTHS", "PAPER_NS", "VARIANTS", "DEFAULT_DEPTH", "DEFAULT_MXNET_N",
           "cifar_depth", "DataSpec", "default_data"]

VARIANTS = ("caffe", "mxnet")
DEFAULT_DEPTH = 50      # no depth and no n: Kaiming's ResNet-50
DEFAULT_MXNET_N = 9     # the MXNet example's own default


def family_of(depth: Optional[int] = None, n: Optional[int] = None,
              variant: str = "caffe") -> str:
    """Which family ``build`` would use: "imagenet", "cifar" or "mxnet" (UsageError if the
    arguments conflict)."""
    if variant not in VARIANTS:
        raise UsageError(f"unknown variant {variant!r}; valid: {', '.join(VARIANTS)}")
    if depth is not None and n is not None:
        raise UsageError("give either depth (ImageNet) or n (CIFAR, depth 6n+2), not both")
    if variant == "mxnet":
        if depth is not None:
            raise UsageError("the mxnet variant is a CIFAR net: give n (depth 6n+2), not depth")
        return "mxnet"
    return "cifar" if n is not None else "imagenet"


def default_data(family: str) -> DataSpec:
    """The Data layer facts a train net of ``family`` (see :func:`family_of`) gets by default."""
    return IMAGENET_DATA if family == "imagenet" else CIFAR_DATA


def build(depth: Optional[int] = None, n: Optional[int] = None, *,
          shortcut: Optional[str] = None, preact: bool = False, variant: str = "caffe",
          classes: Optional[int] = None, input_size: Optional[int] = None,
          batch: Optional[int] = None, name: Optional[str] = None, train: bool = False,
          proj_kernel: int = 3, data: Optional[DataSpec] = None,
          bn_momentum: Optional[float] = None) -> Net:
    """Build a ResNet from the paper's parameters.

    ``depth`` selects ImageNet ResNet-depth, ``n`` the CIFAR ResNet-(6n+2); with neither,
    ImageNet ResNet-50 (or n=9 for ``variant="mxnet"``). ``None`` options take the family's
    defaults: shortcut B (ImageNet) / A (CIFAR), 1000 / 10 classes, 224 / 32 pixel inputs,
    batch 1 (deploy) or 256 / 128 (train). ``proj_kernel`` applies to the mxnet variant only.
    ``data`` (a :class:`DataSpec`, see :func:`default_data`) sets a train net's Data layers;
    ``bn_momentum`` BatchNorm's ``moving_average_fraction`` (default 0.999, MXNet's 0.9).
    """
    family = family_of(depth, n, variant)
    common = {k: v for k, v in dict(classes=classes, input_size=input_size, batch=batch,
                                     name=name, data=data,
                                     bn_momentum=bn_momentum).items() if v is not None}
    if family == "mxnet":
        if shortcut is not None or preact:
            raise UsageError("the mxnet variant has fixed shortcuts and no pre-activation form")
        return mxnet_cifar_resnet(DEFAULT_MXNET_N if n is None else n,
                                  proj_kernel=proj_kernel, train=train, **common)
    if proj_kernel != 3:
        raise UsageError("proj_kernel applies to the mxnet variant only")
    if family == "cifar":
        return cifar_resnet(n, shortcut=shortcut or "A", preact=preact, train=train, **common)
    return imagenet_resnet(DEFAULT_DEPTH if depth is None else depth, shortcut=shortcut or "B",
                           preact=preact, train=train, **common)
