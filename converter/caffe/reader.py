"""Read Caffe prototxt / caffemodel / binaryproto files into the IR and weights.

Decisions (all in Caffe's terms):

* The TEST-phase net is converted: layers are filtered with Caffe's NetStateRule logic
  (state phase TEST, level 0, no stages); loss and accuracy layers are dropped.
* Data-type layers (Data, ImageData, HDF5Data, MemoryData, WindowData, DummyData, and a
  Python layer without bottoms) become an ``Input`` layer of the same name whose shape comes
  from ``input_shape``, else from the layer's own parameters (``data_layer_shape``), else from
  the transform's ``crop_size`` (N=1); their label top is dropped with the losses that
  consume it. A net whose TEST phase has no input at all but whose TRAIN phase has a data
  layer (a caffemodel saved from a training net) uses that layer, with a warning.
* Caffe-inserted ``Split`` layers are folded away: SplitLayer's tops share the bottom's data,
  so rewiring consumers to the bottom is exact (even for in-place consumers).
* In-place layers are kept as they are; ``Net.ssa()`` renames them for back ends.
* Weights are matched to the net's layers by name, with Caffe's shape rules.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..errors import CaffeFormatError, ConverterError, UnsupportedLayerError
from ..fileio import MAX_TEXT_BYTES
from ..ir import InputParam, Layer, Net, ParamSpec
from ..layers import LAYERS, layer_type, read_transform, shortest_floats, unsupported_error
from .blobs import blob_to_array
from .parse import (check_binary_start, parse_binary_net, parse_binaryproto, parse_text,
                    read_bytes, read_text)
from .proto import LayerParameter
from .v1 import upgrade_v1_layer

Weights = Dict[str, List[np.ndarray]]

_INT_MIN, _INT_MAX = -2**31, 2**31 - 1
DATA_TYPES = {"Data", "ImageData", "HDF5Data", "MemoryData", "WindowData", "DummyData",
              "Python"}
#: Where each data type's input shape lives when its parameters do not give it.
_SHAPE_SOURCE = {"Data": "its database", "HDF5Data": "its HDF5 files",
                 "Python": "its Python module", "ImageData": "its images",
                 "WindowData": "its images"}
#: Training-only layers dropped from the converted (TEST, deploy) net.
DROPPED_TYPES = {"SoftmaxWithLoss", "EuclideanLoss", "SigmoidCrossEntropyLoss", "HingeLoss",
                 "InfogainLoss", "MultinomialLogisticLoss", "ContrastiveLoss", "Accuracy",
                 "Silence"}
_PHASES = {0: "TRAIN", 1: "TEST"}


# ------------------------------------------------------------ layer messages

def layer_messages(netp, path=None) -> List:
    """The net's layers as LayerParameter messages (V1 ``layers`` upgraded)."""
    if len(netp.layer) and len(netp.layers):
        raise CaffeFormatError("the file mixes new-style 'layer' and legacy V1 'layers' "
                               "entries; Caffe refuses such nets", file=path)
    if len(netp.layers):
        return [upgrade_v1_layer(v1, LayerParameter, file=path) for v1 in netp.layers]
    return list(netp.layer)


def _rule_met(rule, phase: str) -> bool:
    """Caffe's Net::StateMeetsRule for the state {phase, level 0, no stages}."""
    if rule.HasField("phase") and _PHASES[rule.phase] != phase:
        return False
    if rule.HasField("min_level") and 0 < rule.min_level:
        return False
    if rule.HasField("max_level") and 0 > rule.max_level:
        return False
    return not len(rule.stage)  # required stages are never present; not_stage always holds


def included(lp, phase: str, path=None) -> bool:
    """Caffe's FilterNet decision for one layer."""
    if len(lp.include) and len(lp.exclude):
        raise CaffeFormatError("specify either include or exclude rules, not both",
                               file=path, layer=lp.name)
    if len(lp.include):
        return any(_rule_met(r, phase) for r in lp.include)
    return not any(_rule_met(r, phase) for r in lp.exclude)


def _rule_phase(lp) -> Optional[str]:
    """The phase of a layer restricted by a single ``include { phase }`` rule."""
    if len(lp.include) == 1 and lp.include[0].HasField("phase"):
        return _PHASES[lp.include[0].phase]
    return None


def check_supported(layers, path=None, *, deploy: bool = True) -> None:
    """Raise one UnsupportedLayerError listing every layer whose type we cannot read."""
    allowed = set(LAYERS) | ((DATA_TYPES | DROPPED_TYPES) if deploy else set())
    bad = [(lp.name, lp.type, None) for lp in layers if lp.type not in allowed]
    bad += [(lp.name, lp.type, "a Python layer with bottoms runs user code; only Python "
             "data layers (no bottoms) convert, as inputs")
            for lp in layers if lp.type == "Python" and len(lp.bottom)]
    if bad:
        raise unsupported_error(bad, LAYERS, file=path)


# ------------------------------------------------------------------- inputs

def _declared_inputs(netp, path) -> Tuple[Dict[str, Optional[tuple]], str]:
    """Top-level ``input`` fields with their shapes (None where the file gives none)."""
    names = list(netp.input)
    if len(netp.input_shape) and len(netp.input_dim):
        raise CaffeFormatError("give either input_shape or input_dim, not both", file=path)
    if len(netp.input_shape):
        if len(netp.input_shape) != len(names):
            raise CaffeFormatError(f"{len(names)} inputs but {len(netp.input_shape)} "
                                   "input_shape entries", file=path)
        shapes = [tuple(int(d) for d in s.dim) for s in netp.input_shape]
        return dict(zip(names, shapes)), "input_shape"
    if len(netp.input_dim):
        dims = list(netp.input_dim)
        if len(dims) != 4 * len(names):
            raise CaffeFormatError(f"{len(names)} inputs need {4 * len(names)} input_dim "
                                   f"values, the file has {len(dims)}", file=path)
        return {n: tuple(dims[4 * i:4 * i + 4]) for i, n in enumerate(names)}, "input_dim"
    return dict.fromkeys(names), "input_dim"


def check_input_shape(shape, path=None, *, name=None, layer=None) -> None:
    """Caffe's Blob::Reshape limits for an input blob: no negative axis, and at most
    2^31-1 elements (a corrupt shape must not reach a back end that allocates it)."""
    if any(d < 0 for d in shape) or math.prod(shape) > _INT_MAX:
        what = f"input '{name}' shape" if name else "input shape"
        raise CaffeFormatError(f"{what} {list(shape)} is invalid: axes must be non-negative "
                               "and the blob at most 2^31-1 elements", file=path, layer=layer)


def is_data_layer(lp) -> bool:
    """True for a layer Caffe fills from outside the net (a Python layer only without
    bottoms: with bottoms it computes)."""
    return lp.type in DATA_TYPES and not (lp.type == "Python" and len(lp.bottom))


def data_layer_shape(lp) -> Optional[tuple]:
    """The top shape a data layer's own parameters fix (its DataLayerSetUp), or None:
    MemoryData's batch/channels/height/width, DummyData's first shape (or legacy
    num/channels/height/width), ImageData's batch and (crop or new_height/new_width, colour
    or grey), WindowData's batch and crop (always 3 channels)."""
    t = lp.transform_param
    if lp.type == "MemoryData":
        m = lp.memory_data_param
        return (m.batch_size, m.channels, m.height, m.width)
    if lp.type == "DummyData":
        d = lp.dummy_data_param
        if len(d.shape):
            return tuple(int(x) for x in d.shape[0].dim)
        if len(d.num):
            return (d.num[0], d.channels[0], d.height[0], d.width[0])
        return None
    if lp.type == "ImageData":
        p = lp.image_data_param
        channels = 3 if p.is_color else 1
        if t.crop_size:
            return (p.batch_size, channels, t.crop_size, t.crop_size)
        if p.new_height and p.new_width:
            return (p.batch_size, channels, p.new_height, p.new_width)
        return None
    if lp.type == "WindowData" and t.crop_size:
        return (lp.window_data_param.batch_size, 3, t.crop_size, t.crop_size)
    return None


def _data_shape(lp, input_shape, path, channels: Optional[int] = None) -> tuple:
    """Input shape for a Data-type layer: ``input_shape``, else ``data_layer_shape``, else
    (1, C, crop, crop), where C is the number of mean values or else ``channels`` (what the
    weights of the first convolution expect; shape inference and weight matching check it
    afterwards)."""
    if input_shape is not None:
        return tuple(input_shape)
    own = data_layer_shape(lp)
    if own is not None:
        return own
    t = lp.transform_param
    if t.crop_size and len(t.mean_value) in (1, 3):
        return (1, len(t.mean_value), t.crop_size, t.crop_size)
    if t.crop_size and not len(t.mean_value) and channels:
        return (1, channels, t.crop_size, t.crop_size)
    source = _SHAPE_SOURCE.get(lp.type, "its data source")
    raise CaffeFormatError(f"the data layer's input shape is unknown (it comes from {source}); "
                           "pass --input-shape N,C,H,W", file=path, layer=lp.name,
                           layer_type=lp.type)


def _data_as_input(lp, input_shape, path, channels: Optional[int] = None) -> Layer:
    """A Data-type layer as an Input layer of its first top (the label top is dropped)."""
    shape = _data_shape(lp, input_shape, path, channels)
    if any(d <= 0 for d in shape):
        raise CaffeFormatError(f"input shape {list(shape)} must be positive", file=path,
                               layer=lp.name)
    transform = shortest_floats(read_transform(lp))
    return Layer(lp.name, "Input", [], [lp.top[0]],
                 params=InputParam(shape=(shape,), transform=transform))


# ------------------------------------------------------------------ the net

def _count_rule(lo, hi) -> str:
    if hi is None:
        return f"at least {lo}"
    return f"exactly {lo}" if lo == hi else f"{lo} to {hi}"


def _check_blob_counts(lp, path) -> None:
    """Refuse a layer whose number of bottoms or tops its type does not allow (Caffe's
    ExactNum/Min/Max{Bottom,Top}Blobs, declared by each type). Shape inference and the back
    ends read ``bottoms[0]`` and produce one top per layer, so a miscounted layer must stop
    here."""
    entry = LAYERS[lp.type]
    nb, nt = len(lp.bottom), len(lp.top)
    (bmin, bmax), (tmin, tmax) = entry.bottoms, entry.tops
    if bmin <= nb <= (bmax if bmax is not None else nb) and \
            tmin <= nt <= (tmax if tmax is not None else nt):
        return
    # What real Caffe also accepts (e.g. MAX Pooling's mask top) is unsupported, not corrupt.
    error = UnsupportedLayerError if entry.accepts_counts(lp) else CaffeFormatError
    raise error(f"has {nb} bottom(s) and {nt} top(s); this converter takes "
                f"{_count_rule(bmin, bmax)} bottom(s) and {_count_rule(tmin, tmax)} top(s) "
                "for this type", file=path, layer=lp.name, layer_type=lp.type)


def _out_of_int_range(value) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return not _INT_MIN <= value <= _INT_MAX
    if isinstance(value, tuple):
        return any(_out_of_int_range(v) for v in value)
    return False


def _check_int_range(params) -> None:
    """Refuse integer parameters outside C++ ``int``.

    Caffe copies its uint32/int64 fields (kernel, stride, num_output, shape dims...) into
    ``int`` members, so larger values wrap around to nonsense there; here they would reach
    the back ends and fail deep inside torch or MXNet instead of naming the field.
    """
    if params is None or not dataclasses.is_dataclass(params):
        return
    for f in dataclasses.fields(params):
        value = getattr(params, f.name)
        if _out_of_int_range(value):
            raise CaffeFormatError(f"{f.name} {value!r} is outside Caffe's int range "
                                   f"[{_INT_MIN}, {_INT_MAX}]; the file is corrupt")


def _ir_layer(lp, path, phase_attr) -> Layer:
    """Translate one LayerParameter into an IR Layer (errors carry file/layer context)."""
    entry = layer_type(lp.type, layer=lp.name, file=path)
    if not len(lp.top) or (not len(lp.bottom) and entry.bottoms[0] > 0):
        raise CaffeFormatError("needs at least one bottom and one top", file=path,
                               layer=lp.name, layer_type=lp.type)
    _check_blob_counts(lp, path)
    try:
        params = shortest_floats(entry.read(lp))
        _check_int_range(params)
    except ConverterError as exc:
        raise exc.with_context(file=path, layer=lp.name, layer_type=lp.type)
    specs = [shortest_floats(ParamSpec(lr_mult=s.lr_mult, decay_mult=s.decay_mult))
             for s in lp.param]
    return Layer(lp.name, lp.type, list(lp.bottom), list(lp.top), params=params,
                 param_specs=specs, phase=phase_attr)


def _phase_layers(layers, phase: str, declared_inputs: bool, path) -> List:
    """The layers of ``phase`` (Caffe's FilterNet). A TEST net with no input at all (no input
    fields, Input layer or data layer) whose TRAIN phase has data layers -- a caffemodel saved
    from a training net -- takes those data layers as its inputs, with a warning."""
    kept = [lp for lp in layers if included(lp, phase, path)]
    if phase != "TEST" or declared_inputs or any(
            lp.type == "Input" or is_data_layer(lp) for lp in kept):
        return kept
    train = [lp for lp in layers if is_data_layer(lp) and included(lp, "TRAIN", path)]
    if not train:
        return kept
    chosen = {id(lp) for lp in train}
    names = ", ".join(f"'{lp.name}' ({lp.type})" for lp in train)
    where = f"{path}: " if path else ""
    warnings.warn(f"{where}the TEST phase has no data layer; using the TRAIN phase's {names} "
                  "as the net's input (a caffemodel saved from a training net)", stacklevel=3)
    return [lp for lp in layers if id(lp) in chosen or included(lp, phase, path)]


def net_from_proto(netp, path=None, *, phase: Optional[str] = "TEST",
                   input_shape: Optional[Sequence[int]] = None,
                   fold_splits: bool = True, input_channels: Optional[int] = None) -> Net:
    """Build the IR net of a NetParameter.

    With ``phase`` (default "TEST") the net is the deploy net Caffe would run in that phase
    (see the module docstring). With ``phase=None`` every layer is kept verbatim (losses,
    Data layers, include rules as ``Layer.phase``), for round trips of train nets.
    ``input_channels`` completes a Data layer's shape that the file leaves open (a crop size
    and a mean file but no mean values).
    """
    layers = layer_messages(netp, path)
    inputs, style = _declared_inputs(netp, path)
    if phase is not None:
        layers = _phase_layers(layers, phase, bool(inputs), path)
    check_supported(layers, path, deploy=phase is not None)
    for name, shape in inputs.items():
        if input_shape is not None and (shape is None or len(inputs) == 1):
            inputs[name] = shape = tuple(input_shape)
        if shape is None:
            raise CaffeFormatError(f"input '{name}' has no shape in the file; pass "
                                   "--input-shape N,C,H,W", file=path)
        check_input_shape(shape, path, name=name)
    net = Net(name=netp.name, inputs=inputs, input_style=style)
    alias: Dict[str, str] = {}
    for lp in layers:
        if phase is not None and lp.type in DROPPED_TYPES:
            continue
        if fold_splits and lp.type == "Split" and len(lp.bottom) == 1:
            source = alias.get(lp.bottom[0], lp.bottom[0])
            alias.update(dict.fromkeys(lp.top, source))
            continue
        if phase is not None and is_data_layer(lp):
            layer = _data_as_input(lp, input_shape, path, input_channels)
        else:
            layer = _ir_layer(lp, path, None if phase is not None else _rule_phase(lp))
        if phase is not None and lp.type == "Input" and input_shape is not None:
            layer.params = dataclasses.replace(
                layer.params, shape=(tuple(input_shape),) * len(layer.tops))
        if layer.type == "Input":
            for top, shape in zip(layer.tops, layer.params.shape):
                check_input_shape(shape, path, name=top, layer=layer.name)
        layer.bottoms = [alias.get(b, b) for b in layer.bottoms]
        layer.tops = [alias.get(t, t) for t in layer.tops]
        net.layers.append(layer)
    return net


def parse_prototxt_text(text: str, path=None, **kwargs) -> Net:
    """Parse prototxt ``text`` into an IR Net (keyword arguments as :func:`net_from_proto`)."""
    return net_from_proto(parse_text(text, path), path, **kwargs)


def read_prototxt(path, **kwargs) -> Net:
    """Read a prototxt file into an IR Net (keyword arguments as :func:`net_from_proto`)."""
    return parse_prototxt_text(read_text(path), path, **kwargs)


def read_caffemodel(path) -> "NetParameter":  # noqa: F821
    """Parse a binary .caffemodel into a NetParameter (CaffeFormatError if it is not one)."""
    check_binary_start(path)
    return parse_binary_net(read_bytes(path, what="caffemodel"), path)


def read_binaryproto(path) -> np.ndarray:
    """Read a ``.binaryproto`` blob (e.g. ImageNet's mean image) as float32 in its shape."""
    blob = parse_binaryproto(read_bytes(path, MAX_TEXT_BYTES, "mean file"), path)
    return blob_to_array(blob, file=path)

