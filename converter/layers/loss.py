"""Training-only layers: SoftmaxWithLoss and Accuracy (the deploy net drops them)."""

from __future__ import annotations

from dataclasses import dataclass

from .activation import SoftmaxParam
from .registry import LayerType, register


@dataclass(frozen=True)
class AccuracyParam:
    top_k: int = 1
    axis: int = 1


class _Scalar(LayerType):
    """A layer whose tops are scalars (the loss, the accuracy) and that takes no blobs."""

    def shape(layer, bottoms):
        return [()] * len(layer.tops), []


@register("SoftmaxWithLoss")
class SoftmaxWithLoss(_Scalar):
    params, field = SoftmaxParam, "softmax_param"
    bottoms, tops = (2, 2), (1, 2)  # LossLayer: scores and labels; optional prob top


@register("Accuracy")
class Accuracy(_Scalar):
    params, field = AccuracyParam, "accuracy_param"
    bottoms, tops = (2, 3), (1, 2)
