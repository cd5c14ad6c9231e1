"""Typed layer parameters.

One frozen dataclass per Caffe ``*_param`` message that the project understands. Field defaults
are exactly caffe.proto's, so a layer read from a file that omits a field and a layer built in
code agree. Spatial fields that Caffe spells as a repeated value or as ``_h``/``_w`` pairs are
normalised to ``(h, w)`` tuples here; the readers and writers do that translation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Tuple

Pair = Tuple[int, int]

__all__ = ["Filler", "ParamSpec", "ConvolutionParam", "PoolingParam", "BatchNormParam",
           "ScaleParam", "ReLUParam", "EltwiseParam", "InnerProductParam", "SoftmaxParam",
           "ConcatParam", "DropoutParam", "PowerParam", "FlattenParam", "ReshapeParam",
           "LRNParam", "InputParam", "TransformParam", "DataParam", "AccuracyParam"]


@dataclass(frozen=True)
class Filler:
    """caffe.proto FillerParameter (used only when emitting train nets)."""
    type: str = "constant"
    value: float = 0.0
    std: float = 1.0
    variance_norm: str = "FAN_IN"


@dataclass(frozen=True)
class ParamSpec:
    """caffe.proto ParamSpec: per-blob learning-rate and weight-decay multipliers."""
    lr_mult: float = 1.0
    decay_mult: float = 1.0


@dataclass(frozen=True)
class ConvolutionParam:
    """ConvolutionParameter; 2-D only (ResNets and classic classifiers)."""
    num_output: int = 0
    bias_term: bool = True
    kernel: Pair = (0, 0)
    stride: Pair = (1, 1)
    pad: Pair = (0, 0)
    dilation: Pair = (1, 1)
    group: int = 1
    weight_filler: Optional[Filler] = None
    bias_filler: Optional[Filler] = None


@dataclass(frozen=True)
class PoolingParam:
    """PoolingParameter. ``round_mode`` is CEIL in BVLC Caffe (FLOOR exists only in later forks)."""
    pool: str = "MAX"  # MAX | AVE | STOCHASTIC
    kernel: Pair = (0, 0)
    stride: Pair = (1, 1)
    pad: Pair = (0, 0)
    global_pooling: bool = False
    round_mode: str = "CEIL"


@dataclass(frozen=True)
class BatchNormParam:
    """BatchNormParameter. ``use_global_stats`` None means Caffe's default: true in TEST phase."""
    use_global_stats: Optional[bool] = None
    moving_average_fraction: float = 0.999
    eps: float = 1e-5


@dataclass(frozen=True)
class ScaleParam:
    """ScaleParameter (also covers the two-bottom form, where the scale comes from bottom[1])."""
    axis: int = 1
    num_axes: int = 1
    bias_term: bool = False
    filler: Optional[Filler] = None
    bias_filler: Optional[Filler] = None


@dataclass(frozen=True)
class ReLUParam:
    """ReLUParameter: leaky slope for negative inputs."""
    negative_slope: float = 0.0


@dataclass(frozen=True)
class EltwiseParam:
    """EltwiseParameter; ``coeff`` applies to SUM only and is empty or one per bottom."""
    operation: str = "SUM"  # PROD | SUM | MAX
    coeff: Tuple[float, ...] = ()


@dataclass(frozen=True)
class InnerProductParam:
    """InnerProductParameter. Input is flattened from ``axis`` on."""
    num_output: int = 0
    bias_term: bool = True
    axis: int = 1
    transpose: bool = False
    weight_filler: Optional[Filler] = None
    bias_filler: Optional[Filler] = None


@dataclass(frozen=True)
class SoftmaxParam:
    axis: int = 1


@dataclass(frozen=True)
class ConcatParam:
    axis: int = 1


@dataclass(frozen=True)
class DropoutParam:
    dropout_ratio: float = 0.5


@dataclass(frozen=True)
class PowerParam:
    """PowerParameter: y = (shift + scale * x) ^ power."""
    power: float = 1.0
    scale: float = 1.0
    shift: float = 0.0


@dataclass(frozen=True)
class FlattenParam:
    axis: int = 1
    end_axis: int = -1


@dataclass(frozen=True)
class ReshapeParam:
    """ReshapeParameter: 0 copies a bottom dim, -1 is inferred."""
    shape: Tuple[int, ...] = ()
    axis: int = 0
    num_axes: int = -1


@dataclass(frozen=True)
class LRNParam:
    local_size: int = 5
    alpha: float = 1.0
    beta: float = 0.75
    norm_region: str = "ACROSS_CHANNELS"  # or WITHIN_CHANNEL
    k: float = 1.0


@dataclass(frozen=True)
class InputParam:
    """InputParameter: one shape per top. ``transform`` keeps the transform_param of a Data
    layer that a deploy conversion turned into this input (the image preprocessing)."""
    shape: Tuple[Tuple[int, ...], ...] = ()
    transform: Optional["TransformParam"] = None


@dataclass(frozen=True)
class TransformParam:
    """TransformationParameter of a Data layer."""
    scale: float = 1.0
    mirror: bool = False
    crop_size: int = 0
    mean_file: Optional[str] = None
    mean_value: Tuple[float, ...] = ()


@dataclass(frozen=True)
class DataParam:
    """DataParameter plus the layer's transform_param (Data layers only appear in train nets)."""
    source: str = ""
    batch_size: int = 0
    backend: str = "LEVELDB"
    transform: TransformParam = field(default_factory=TransformParam)


@dataclass(frozen=True)
class AccuracyParam:
    top_k: int = 1
    axis: int = 1


#: Caffe layer type -> its parameter dataclass (types absent here take no parameters).
PARAM_TYPES = {
    "Convolution": ConvolutionParam,
    "Pooling": PoolingParam,
    "BatchNorm": BatchNormParam,
    "Scale": ScaleParam,
    "ReLU": ReLUParam,
    "Eltwise": EltwiseParam,
    "InnerProduct": InnerProductParam,
    "Softmax": SoftmaxParam,
    "SoftmaxWithLoss": SoftmaxParam,
    "Concat": ConcatParam,
    "Dropout": DropoutParam,
    "Power": PowerParam,
    "Flatten": FlattenParam,
    "Reshape": ReshapeParam,
    "LRN": LRNParam,
    "Input": InputParam,
    "Data": DataParam,
    "Accuracy": AccuracyParam,
}


def default_params(layer_type: str):
    """Return the caffe.proto-default parameters of ``layer_type`` (None if it takes none)."""
    cls = PARAM_TYPES.get(layer_type)
    return None if cls is None else cls()
