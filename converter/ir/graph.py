"""The graph IR: a net is an ordered list of layers over named blobs.

This mirrors Caffe's own model: layers run in file order, each reads ``bottoms`` and writes
``tops``; a layer whose top equals its bottom works in place (Caffe's BatchNorm/Scale/ReLU
idiom). Blob names are therefore *not* single-assignment; :meth:`Net.ssa` gives a renamed copy
where every blob has one producer, for back ends that build dataflow graphs.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from ..errors import GraphError
from ..layers import ParamSpec, default_params
from .names import FreshNames
from .shapes import infer_shapes

Shape = Tuple[int, ...]


@dataclass
class Layer:
    """One Caffe layer.

    ``params`` is the typed parameter dataclass of the layer's type (see ``converter/layers/``) or None.
    ``param_specs`` are Caffe's per-blob ``param { lr_mult decay_mult }`` entries (train nets).
    ``phase`` is "TRAIN"/"TEST" for layers restricted by an ``include { phase }`` rule.
    ``blob_shapes`` (parameter blobs) is filled by shape inference.
    """
    name: str
    type: str
    bottoms: List[str] = field(default_factory=list)
    tops: List[str] = field(default_factory=list)
    params: object = None
    param_specs: List[ParamSpec] = field(default_factory=list)
    phase: Optional[str] = None
    blob_shapes: List[Shape] = field(default_factory=list)

    def __post_init__(self):
        if self.params is None:
            self.params = default_params(self.type)

    @property
    def in_place(self) -> bool:
        """True if the layer overwrites its bottom (Caffe's in-place computation)."""
        return bool(self.tops) and self.tops == self.bottoms[: len(self.tops)]


@dataclass
class Net:
    """An ordered Caffe net.

    ``inputs`` holds nets declared with top-level ``input`` fields (name -> shape, in order);
    ``input_style`` remembers how they were written ("input_dim" or "input_shape") so a
    round trip reproduces the file. Input *layers* are ordinary layers of type "Input".
    """
    name: str = ""
    layers: List[Layer] = field(default_factory=list)
    inputs: Dict[str, Shape] = field(default_factory=dict)
    input_style: str = "input_dim"

    # ----------------------------------------------------------------- queries
    def layer(self, name: str) -> Layer:
        """Return the layer called ``name`` (GraphError if absent)."""
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise GraphError(f"no layer named '{name}'")

    def input_blobs(self) -> Dict[str, Shape]:
        """All declared inputs: top-level ``input`` fields and ``Input`` layer tops."""
        found = dict(self.inputs)
        for layer in self.layers:
            if layer.type == "Input":
                for top, shape in zip(layer.tops, layer.params.shape):
                    found[top] = tuple(shape)
        return found

    def blob_names(self) -> List[str]:
        """Every blob name in first-definition order (Caffe's ``net.blobs`` order)."""
        seen: Dict[str, None] = dict.fromkeys(self.inputs)
        for layer in self.layers:
            for top in layer.tops:
                seen.setdefault(top)
        return list(seen)

    def output_blobs(self) -> List[str]:
        """Blobs produced but never consumed afterwards (Caffe's net outputs)."""
        consumed = set()
        for layer in self.layers:
            consumed.update(b for b in layer.bottoms if b not in layer.tops)
        return [b for b in self.blob_names() if b not in consumed and b not in self.inputs]

    def copy(self) -> "Net":
        """An independent copy: new layers and lists; the (frozen) parameters are shared."""
        layers = [dataclasses.replace(l, bottoms=list(l.bottoms), tops=list(l.tops),
                                      param_specs=list(l.param_specs),
                                      blob_shapes=list(l.blob_shapes)) for l in self.layers]
        return Net(self.name, layers, dict(self.inputs), self.input_style)

    # -------------------------------------------------------------- validation
    def validate(self, shapes: bool = True) -> Dict[str, Shape]:
        """Check structure (unique layer names, every bottom defined before use) and,
        if ``shapes``, run shape inference. Returns the blob shapes (empty if not inferred)."""
        names = set()
        defined = set(self.inputs)
        for layer in self.layers:
            if layer.name in names:
                raise GraphError("duplicate layer name", layer=layer.name, layer_type=layer.type)
            names.add(layer.name)
            for bottom in layer.bottoms:
                if bottom not in defined:
                    raise GraphError(f"bottom '{bottom}' is not produced by any earlier layer",
                                     layer=layer.name, layer_type=layer.type)
            defined.update(layer.tops)
        if not shapes:
            return {}
        return infer_shapes(self)

    # --------------------------------------------------------------------- SSA
    def ssa(self) -> Tuple["Net", Dict[str, str]]:
        """Return a copy in single-assignment form and the map Caffe blob -> its final SSA name.

        The first producer of a blob keeps the Caffe name; each later (in-place) write gets
        a made-up name (``name#k``) that no blob of the net uses, whatever its names are
        (see :class:`~converter.ir.names.FreshNames`). Caffe's ``net.blobs[name]`` after a
        forward pass holds the value of the *last* write, which is what the map points at.
        """
        net = self.copy()
        current = {name: name for name in net.inputs}
        fresh = FreshNames(self.blob_names())
        for layer in net.layers:
            layer.bottoms = [current.get(b, b) for b in layer.bottoms]
            new_tops = []
            for top in layer.tops:
                new_name = fresh.version(top, 1) if top in current else top
                current[top] = new_name
                new_tops.append(new_name)
            layer.tops = new_tops
        return net, current
