"""Net inputs: the Input layer and the training nets' Data layer (with its transform)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Tuple

from ..errors import CaffeFormatError, UnsupportedLayerError
from .fields import enum_name, enum_value, read_fields, write_fields
from .registry import LayerType, register


@dataclass(frozen=True)
class TransformParam:
    """TransformationParameter of a Data layer."""
    scale: float = 1.0
    mirror: bool = False
    crop_size: int = 0
    mean_file: Optional[str] = None
    mean_value: Tuple[float, ...] = ()


@dataclass(frozen=True)
class InputParam:
    """InputParameter: one shape per top. ``transform`` keeps the transform_param of a Data
    layer that a deploy conversion turned into this input (the image preprocessing)."""
    shape: Tuple[Tuple[int, ...], ...] = ()
    transform: Optional[TransformParam] = None


@dataclass(frozen=True)
class DataParam:
    """DataParameter plus the layer's transform_param (Data layers only appear in train nets)."""
    source: str = ""
    batch_size: int = 0
    backend: str = "LEVELDB"
    transform: TransformParam = field(default_factory=TransformParam)


def read_transform(lp) -> TransformParam:
    """The layer's transform_param (Caffe's DataTransformer settings) as an IR value."""
    return read_fields(TransformParam, lp.transform_param)


@register("Input")
class Input(LayerType):
    params, field = InputParam, "input_param"
    bottoms, tops = (0, 0), (1, None)

    def shape(layer, bottoms):
        return [tuple(s) for s in layer.params.shape], []

    def read(lp):
        shapes = [tuple(int(d) for d in s.dim) for s in lp.input_param.shape]
        if len(shapes) == 1 and len(lp.top) > 1:  # InputLayer: one shape serves every top
            shapes = shapes * len(lp.top)
        if len(shapes) != len(lp.top):
            raise CaffeFormatError(f"Input layer has {len(lp.top)} tops but "
                                   f"{len(shapes)} shapes")
        if any(d < 0 for s in shapes for d in s):
            raise CaffeFormatError(f"negative input dimension in {[list(s) for s in shapes]}")
        return InputParam(shape=tuple(shapes))

    def write(c, lp):
        for shape in c.shape:
            lp.input_param.shape.add().dim.extend(shape)


@register("Data")
class Data(LayerType):
    params, field = DataParam, "data_param"
    bottoms, tops = (0, 0), (1, 2)

    def shape(layer, bottoms):
        raise UnsupportedLayerError("a Data layer's shape comes from its database; the "
                                    "deploy net reads it as an Input layer",
                                    layer=layer.name, layer_type=layer.type)

    def read(lp):
        p = lp.data_param
        return DataParam(source=p.source, batch_size=p.batch_size,
                         backend=enum_name(p, "backend"), transform=read_transform(lp))

    def write(c, lp):
        p = lp.data_param
        p.source, p.batch_size = c.source, c.batch_size  # required, so always written
        if c.backend != "LEVELDB":
            p.backend = enum_value(p, "backend", c.backend)
        write_fields(c.transform, lp.transform_param)
