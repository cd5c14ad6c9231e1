"""Registry of Caffe layer converters for the MXNet back end, and the build context.

Each converter takes ``(ctx, layer, bottoms)`` -- the build context, the IR layer (in SSA form)
and its bottom symbols -- and returns one symbol per top. Every converter reproduces what BVLC
Caffe's ``Forward_cpu`` computes at TEST time; the comments cite the Caffe behaviour they follow.
The converters live in the family files named as the types' ``converter/layers`` modules
(``conv.py``, ``pool.py``, ...); importing :mod:`converter.backends.mxnet` registers them.
"""

from __future__ import annotations

from typing import Callable, Dict, List, Optional

import mxnet as mx
import numpy as np

from ...caffe.blobs import FileBlob
from ...errors import MismatchError
from ...ir import Layer
from ...layers import ParamSpec, blob_shape_ok

Converter = Callable[["BuildContext", Layer, list], list]
CONVERTERS: Dict[str, Converter] = {}
#: Optional per-type checks for options that cannot be converted exactly (None = fine).
OPTION_CHECKS: Dict[str, Callable[[Layer], Optional[str]]] = {}

#: Catalogue types this back end does not convert, and why (the error message says so).
NOT_CONVERTED = {
    "Data": "a training-net data source; the deploy net reads it as an Input layer",
    "SoftmaxWithLoss": "a training loss; the deploy (TEST) net drops it",
    "Accuracy": "a training metric; the deploy (TEST) net drops it",
    "Filter": "its output batch is the number of nonzero selectors, known only from the "
              "data, and an MXNet symbol's shapes are fixed when it is bound",
}


def register(*types: str, check: Optional[Callable[[Layer], Optional[str]]] = None):
    """Register a converter (and an optional option check) for Caffe ``types``; once per type."""
    def wrap(fn: Converter) -> Converter:
        for t in types:
            if t in CONVERTERS:
                raise ValueError(f"MXNet converter for {t} registered twice")
            CONVERTERS[t] = fn
            if check is not None:
                OPTION_CHECKS[t] = check
        return fn
    return wrap


class BuildContext:
    """State shared by the converters while one symbol is built.

    ``shapes`` maps SSA blob names to their inferred shapes (batch as declared; only the batch
    axis is kept dynamic in the symbol). ``blobs`` maps layer name -> float32 weight arrays in
    Caffe order (already shape-checked; a lazy load's FileBlobs stay in the caffemodel), or is
    None for an untrained symbol. ``arg_params``/``aux_params`` collect the values as numpy
    arrays or FileBlobs (a value stored unchanged is never read here), in creation order.
    ``train`` asks for a trainable symbol (:func:`converter.backends.mxnet.to_mxnet`);
    ``loss_tops`` are the SSA names of the net outputs that then become the loss; ``affine``
    maps a BatchNorm's name to the Scale layer that MXNet's BatchNorm then computes with it
    (``fused``: their names).
    """

    def __init__(self, shapes, blobs, inputs, train: bool = False, loss_tops=(),
                 affine: Optional[dict] = None):
        self.shapes = shapes
        self.blobs = blobs
        self.inputs = inputs  # input blob name -> its variable
        self.train = train
        self.loss_tops = frozenset(loss_tops)
        self.affine = dict(affine or {})
        self.fused = frozenset(scale.name for scale in self.affine.values())
        self.arg_params: Dict[str, object] = {}
        self.aux_params: Dict[str, object] = {}

    def shape(self, ssa_name: str):
        """The inferred shape of an SSA blob (in-place writes keep their blob's shape)."""
        return tuple(self.shapes[ssa_name])

    def blob(self, layer: Layer, index: int) -> Optional[np.ndarray]:
        """Weight blob ``index`` of ``layer`` as float32, or None when building untrained."""
        if self.blobs is None:
            return None
        return self.blobs[layer.name][index]

    def param(self, name: str, shape, value=None, aux: bool = False,
              spec: ParamSpec | None = None):
        """A variable ``name`` of ``shape``; ``value`` (if given) goes to arg/aux params.
        In a trainable symbol, ``spec`` (Caffe's ``param { lr_mult decay_mult }`` of the
        blob) becomes the variable's ``__lr_mult__``/``__wd_mult__``, which MXNet's
        optimizers read from the symbol; without one MXNet's defaults apply."""
        shape = tuple(int(d) for d in shape) or (1,)  # MXNet 1.x has no 0-d arrays
        if value is not None and self.blobs is not None:
            if isinstance(value, FileBlob):
                value = value.reshape(shape)
            else:
                value = np.asarray(value, dtype=np.float32).reshape(shape)
            target = self.aux_params if aux else self.arg_params
            target[name] = value
        attrs = {}
        if self.train and spec is not None:
            attrs = {"__lr_mult__": repr(float(spec.lr_mult)),
                     "__wd_mult__": repr(float(spec.decay_mult))}
        return mx.sym.var(name, shape=shape, dtype=np.float32, attr=attrs or None)

    def spec(self, layer: Layer, index: int) -> ParamSpec | None:
        """Caffe's ``param`` entry for blob ``index`` of ``layer``, if the file gives one."""
        return layer.param_specs[index] if index < len(layer.param_specs) else None

    def weight(self, layer: Layer, index: int, name: str, shape, value=None):
        """The variable of learned blob ``index`` of ``layer`` (``value``: its array, by
        default the blob itself), carrying the blob's learning-rate facts."""
        value = self.blob(layer, index) if value is None else value
        return self.param(name, shape, value, spec=self.spec(layer, index))


def canonical_axis(axis: int, ndim: int) -> int:
    """Caffe's CanonicalAxisIndex (shape inference has already range-checked it)."""
    return axis % ndim


def check_blob_shapes(layer: Layer, arrays: List[np.ndarray]) -> List[np.ndarray]:
    """Return ``arrays`` as float32 in the shapes Caffe expects (``layer.blob_shapes``).

    Like Caffe's ``Blob::ShapeEquals``, a legacy 4-D (num, channels, height, width) blob
    matches when it equals the expected shape padded with leading 1s (the one copy of that
    rule is ``converter.layers.legacy_shape_matches``).
    """
    expected = layer.blob_shapes
    if len(arrays) != len(expected):
        raise MismatchError(f"has {len(arrays)} weight blobs, the net expects {len(expected)}",
                            layer=layer.name, layer_type=layer.type)
    out = []
    for i, (arr, shape) in enumerate(zip(arrays, expected)):
        if not isinstance(arr, FileBlob):  # a FileBlob is float32 and is not read here
            arr = np.asarray(arr).astype(np.float32)
        if not blob_shape_ok(arr.shape, shape):
            raise MismatchError(f"blob {i} has shape {list(arr.shape)}, the net expects "
                                f"{list(shape)}", layer=layer.name, layer_type=layer.type)
        out.append(arr.reshape(shape))
    return out


def supported_types() -> List[str]:
    """The Caffe layer types this back end converts, sorted."""
    return sorted(CONVERTERS)
