"""What a net is: per-layer shapes, parameter counts and multiply-accumulates.

Used by ``resnet-convert info`` (a table or JSON) and ``resnet-convert draw`` (the labels).
Everything is derived from the IR after Caffe's shape inference, so it works on a prototxt
alone; with a caffemodel the weights are matched to the net first, so the counts are those of
the stored blobs. Parameter counts follow Caffe's ``net.params``: every stored blob counts,
BatchNorm's mean, variance and scale factor included. Multiply-accumulates count the
Convolution and InnerProduct products (the usual "MACs"/"FLOPs/2" figure); element-wise
layers count none.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

from .ir import Layer, Net

Shape = Tuple[int, ...]


@dataclass
class LayerInfo:
    """One row of the table."""
    name: str
    type: str
    bottoms: List[str]
    tops: List[str]
    shapes: List[Shape]
    params: int
    macs: int
    summary: str
    in_place: bool


@dataclass
class NetInfo:
    """A whole net: its layers, inputs, outputs, totals and preprocessing facts."""
    name: str
    layers: List[LayerInfo]
    inputs: Dict[str, Shape]
    outputs: List[str]
    preprocess: Dict[str, object] = field(default_factory=dict)
    source: Dict[str, Optional[str]] = field(default_factory=dict)

    @property
    def total_params(self) -> int:
        return sum(r.params for r in self.layers)

    @property
    def total_macs(self) -> int:
        return sum(r.macs for r in self.layers)


def _pair(values, sep: str = "x") -> str:
    return str(values[0]) if len(set(values)) == 1 else sep.join(map(str, values))


def _conv_summary(p) -> str:
    parts = [f"{p.num_output}", "x".join(map(str, p.kernel))]
    if max(p.stride) > 1:
        parts.append(f"/{_pair(p.stride)}")
    if max(p.pad):
        parts.append(f"pad {_pair(p.pad)}")
    if max(p.dilation) > 1:
        parts.append(f"dil {_pair(p.dilation)}")
    if p.group > 1:
        parts.append(f"group {p.group}")
    if not p.bias_term:
        parts.append("no bias")
    return " ".join(parts)


def _pool_summary(p) -> str:
    if p.global_pooling:
        return f"global {p.pool}"
    text = f"{p.pool} {'x'.join(map(str, p.kernel))} /{_pair(p.stride)}"
    if max(p.pad):
        text += f" pad {_pair(p.pad)}"
    return text + (" floor" if p.round_mode == "FLOOR" else "")


def _other_summary(layer: Layer) -> str:
    p, kind = layer.params, layer.type
    if kind == "InnerProduct":
        return f"{p.num_output}" + (" transposed" if p.transpose else "")
    if kind == "LRN":
        return f"{p.norm_region} size {p.local_size} alpha {p.alpha:g} beta {p.beta:g}"
    if kind == "Eltwise":
        return p.operation + (f" coeff {list(p.coeff)}" if p.coeff else "")
    if kind == "Dropout":
        return f"ratio {p.dropout_ratio:g}"
    if kind == "ReLU" and p.negative_slope:
        return f"slope {p.negative_slope:g}"
    if kind in ("Concat", "Softmax") and p.axis != 1:
        return f"axis {p.axis}"
    if kind == "Power":
        return f"power {p.power:g} scale {p.scale:g} shift {p.shift:g}"
    if kind == "BatchNorm":
        return f"eps {p.eps:g}"
    if kind == "Scale" and p.bias_term:
        return "bias"
    return ""


def summary(layer: Layer) -> str:
    """The layer's key parameters in a few words (what Caffe's draw_net shows)."""
    if layer.type == "Convolution":
        return _conv_summary(layer.params)
    if layer.type == "Pooling":
        return _pool_summary(layer.params)
    try:
        return _other_summary(layer)
    except AttributeError:  # a type whose parameters lack these fields
        return ""


def _shapes(net: Net) -> Dict[str, Optional[Shape]]:
    """Every blob's shape by Caffe's rules (filling ``blob_shapes``). A net that shape
    inference refuses as a whole (a train net's Data layers have no shape until they read
    their database) is walked layer by layer, unknown shapes left None, so it can still
    be drawn and listed; a deploy net's errors are raised as usual."""
    from .errors import ConverterError
    from .ir import infer_shapes
    if not any(l.type == "Data" for l in net.layers):
        return infer_shapes(net)
    shapes: Dict[str, Optional[Shape]] = {k: tuple(v) for k, v in net.inputs.items()}
    for layer in net.layers:
        tops: List[Optional[Shape]] = [None] * len(layer.tops)
        if all(shapes.get(b) is not None for b in layer.bottoms):
            alone = Net(layers=[layer], inputs={b: shapes[b] for b in layer.bottoms})
            try:
                found = infer_shapes(alone)
                tops = [found[t] for t in layer.tops]
            except ConverterError:
                layer.blob_shapes = []
        else:
            layer.blob_shapes = []
        shapes.update(zip(layer.tops, tops))
    return shapes


def macs(layer: Layer, top_shapes: Sequence[Shape]) -> int:
    """Multiply-accumulates of one forward pass (conv_layer.cpp / inner_product_layer.cpp:
    one product per output element and per element of its receptive field)."""
    if layer.type == "Convolution" and layer.blob_shapes:
        per_output = math.prod(layer.blob_shapes[0][1:])  # C_in/group * kh * kw
        return math.prod(top_shapes[0]) * per_output
    if layer.type == "InnerProduct" and layer.blob_shapes:
        k = math.prod(layer.blob_shapes[0]) // layer.params.num_output
        return math.prod(top_shapes[0]) * k
    return 0


def describe(net: Net, preprocess: Optional[Dict[str, object]] = None,
             source: Optional[Dict[str, Optional[str]]] = None) -> NetInfo:
    """The NetInfo of a net (shape inference is run here, which fills ``blob_shapes``)."""
    shapes = _shapes(net)
    # In-place layers never change their blob's shape, so the final map serves every row.
    rows = []
    for layer in net.layers:
        tops = [shapes.get(t) for t in layer.tops]
        count = sum(math.prod(s) for s in layer.blob_shapes)
        known = all(s is not None for s in tops)
        rows.append(LayerInfo(layer.name, layer.type, list(layer.bottoms), list(layer.tops),
                              tops, count, macs(layer, tops) if known else 0,
                              summary(layer), layer.in_place))
    return NetInfo(net.name, rows, dict(net.input_blobs()), net.output_blobs(),
                   dict(preprocess or {}), dict(source or {}))


def _human(n: int) -> str:
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= size:
            return f"{n / size:.2f}{unit}"
    return str(n)


def _shape_text(shapes: Sequence[Optional[Shape]]) -> str:
    return " ".join("?" if s is None else "x".join(map(str, s)) for s in shapes)


def format_table(info: NetInfo) -> str:
    """The human-readable table: one row per layer, then totals, inputs and preprocessing."""
    head = f"{'layer':<28} {'type':<13} {'bottoms -> tops':<40} {'output':<18} " \
           f"{'params':>11} {'MACs':>14}"
    lines = [f"net: {info.name or '(unnamed)'}", head, "-" * len(head)]
    for r in info.layers:
        flow = f"{','.join(r.bottoms)} -> {','.join(r.tops)}"
        lines.append(f"{r.name:<28} {r.type:<13} {flow:<40} {_shape_text(r.shapes):<18} "
                     f"{r.params:>11,} {r.macs:>14,}")
    lines.append("-" * len(head))
    lines.append(f"{len(info.layers)} layers, {info.total_params:,} parameters "
                 f"({_human(info.total_params)}), {info.total_macs:,} multiply-accumulates "
                 f"({_human(info.total_macs)}) per forward pass of the declared batch")
    for name, shape in info.inputs.items():
        lines.append(f"input: {name} {'x'.join(map(str, shape))}")
    lines.append(f"outputs: {', '.join(info.outputs)}")
    if info.preprocess:
        facts = ", ".join(f"{k} {v}" for k, v in sorted(info.preprocess.items())
                          if v not in (None, [], ()))
        lines.append(f"preprocessing: {facts}")
    return "\n".join(lines)


def to_json(info: NetInfo) -> str:
    """The same facts as JSON (``layers``, ``totals``, ``inputs``, ``outputs``, ...)."""
    data = asdict(info)
    data["inputs"] = {k: list(v) for k, v in info.inputs.items()}
    data["totals"] = {"layers": len(info.layers), "params": info.total_params,
                      "macs": info.total_macs}
    return json.dumps(data, indent=1)


def is_prototxt(path) -> bool:
    """True if ``path`` holds a text net (so ``info net.prototxt`` works like --prototxt)."""
    from .caffe.parse import looks_like_text
    try:
        with open(path, "rb") as handle:
            return looks_like_text(handle.read(4096))
    except OSError:
        return False  # the caffemodel reader reports it with the file named


def load_net(model=None, prototxt=None, input_shape=None, mean=None, mean_values=None):
    """``(net, preprocess facts, source)`` from a caffemodel and/or a prototxt.

    A caffemodel's weights are matched to the net (so a mismatch is reported) but their
    values stay in the file; the counts come from the matched blob shapes."""
    from .errors import ConverterError, UsageError
    from .preprocess import make_preprocess
    if model is not None and prototxt is None and is_prototxt(model):
        model, prototxt = None, model
    if model is None and prototxt is None:
        raise UsageError("give a caffemodel, a prototxt, or both")
    if model is None:
        from .caffe.reader import read_prototxt
        net = read_prototxt(prototxt, input_shape=input_shape)
        try:
            net.validate()
        except ConverterError as exc:
            raise exc.with_context(file=prototxt) from None
    else:
        from . import load_caffe
        net, _ = load_caffe(model, prototxt, input_shape=input_shape, lazy=True)
    pre = json.loads(make_preprocess(net, mean, mean_values).to_json())
    return net, pre, {"caffemodel": None if model is None else str(model),
                      "prototxt": None if prototxt is None else str(prototxt)}
