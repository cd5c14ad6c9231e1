"""Walking an MXNet symbol's JSON graph and lowering it to the IR.

Every node's output shape comes from MXNet's own shape inference at the given input shapes.
A node that does not depend on a data input (a parameter, a ``Reshape`` of one, a divisor
computed with ``_arange``) is a *constant*: MXNet evaluates it once (``Symbol.eval``) and the
converters see a numpy array. Every other node goes to the converter registered for its op
(:mod:`.ops`); layer and blob names are the node names.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

import mxnet as mx
import numpy as np

from ...backends.mxnet.symbol import unfused
from ..builder import Blob, NetBuilder

Converter = Callable[["Lowering", "Node"], Any]
CONVERTERS: Dict[str, Converter] = {}


def register(*ops: str):
    """Register a converter for MXNet op names; twice is a bug."""
    def wrap(fn: Converter) -> Converter:
        for op in ops:
            if op in CONVERTERS:
                raise ValueError(f"mxnet front-end converter for {op} registered twice")
            CONVERTERS[op] = fn
        return fn
    return wrap


@dataclass
class Node:
    """One node of the symbol JSON: op, name, string attributes, input entries."""
    index: int
    op: str
    name: str
    attrs: Dict[str, str]
    inputs: List[Tuple[int, int]]
    shape: Optional[Tuple[int, ...]] = None


@dataclass
class Pending:
    """A value that is not a Caffe blob yet: e.g. a sum pooling that only becomes Caffe's
    AVE pooling once the division by its window sizes that follows it is seen."""
    kind: str
    blob: Blob
    node: Node
    params: Any = None


@dataclass
class Lowering:
    """State of one lowering: the builder, the graph, every node's value so far."""
    builder: NetBuilder
    nodes: List[Node]
    params: Dict[str, np.ndarray]
    internals: Any
    values: Dict[int, Any] = field(default_factory=dict)
    consumers: Dict[int, int] = field(default_factory=dict)

    def input(self, node: Node, k: int):
        """The value of ``node``'s k-th input: Blob, Pending or numpy constant."""
        return self.values.get(self.nodes[node.inputs[k][0]].index)

    def input_node(self, node: Node, k: int) -> Node:
        return self.nodes[node.inputs[k][0]]

    def where(self, node: Node) -> str:
        return f"node '{node.name}'"

    def run(self, heads) -> List[Any]:
        for node in self.nodes:
            if node.op != "null":  # variables: from_mxnet's _variable
                self._lower(node)
        return [self.values.get(i) for i, _, *_ in heads]

    def _lower(self, node: Node) -> None:
        data = [self.values.get(i) for i, _ in node.inputs]
        if node.op != "null" and all(isinstance(v, np.ndarray) for v in data):
            self.values[node.index] = self._evaluate(node)
            return
        converter = CONVERTERS.get(node.op)
        result = None
        if converter is None:
            self.builder.unsupported(f"MXNet op {node.op}", self.where(node))
        elif all(v is not None for v in data):
            result = converter(self, node)
        if result is None and node.shape is not None:
            # Refused: a stand-in lets the walk go on and report every later op too.
            result = Blob(f"<{node.name}>", node.shape)
        self.values[node.index] = result

    def _evaluate(self, node: Node) -> np.ndarray:
        """A data-independent node computed by MXNet itself (a Reshape of a parameter
        simply reshaped: the common case, e.g. a per-channel gamma broadcast)."""
        if node.op in ("Reshape", "reshape") and len(node.inputs) == 1:
            return self.values[node.inputs[0][0]].reshape(node.shape)
        function = getattr(mx.nd, node.op, None) or getattr(mx.nd._internal, node.op, None)
        if function is not None:  # imperative: MXNet's own kernel, no executor to bind
            inputs = [mx.nd.array(self.values[i]) for i, _ in node.inputs]
            attrs = {k: v for k, v in node.attrs.items() if not k.startswith("__")}
            result = function(*inputs, **attrs)
            return (result[0] if isinstance(result, (list, tuple)) else result).asnumpy()
        sym = self.internals[f"{node.name}_output"]
        args = {a: mx.nd.array(self.params[a]) for a in sym.list_arguments()}
        aux = {a: mx.nd.array(self.params[a]) for a in sym.list_auxiliary_states()}
        with unfused():  # no MKLDNN subgraph pass (a log line per bind)
            return sym.bind(mx.cpu(), args, aux_states=aux).forward()[0].asnumpy()


def parse_nodes(symbol) -> Tuple[List[Node], list]:
    """The symbol's nodes (JSON order, which is topological) and its heads."""
    graph = json.loads(symbol.tojson())
    nodes = [Node(i, n["op"], n["name"], dict(n.get("attrs") or n.get("attr") or {}),
                  [(e[0], e[1]) for e in n.get("inputs", [])])
             for i, n in enumerate(graph["nodes"])]
    return nodes, graph["heads"]


def infer_shapes(symbol, nodes: List[Node], input_shapes: Dict[str, Tuple[int, ...]]) -> None:
    """Fill ``node.shape`` (first output) from MXNet's shape inference."""
    internals = symbol.get_internals()
    names = internals.list_outputs()
    _, shapes, _ = internals.infer_shape(**input_shapes)
    by_name = dict(zip(names, shapes))
    for node in nodes:
        for key in (node.name, f"{node.name}_output", f"{node.name}_output0"):
            if key in by_name:
                node.shape = tuple(int(d) for d in by_name[key])
                break


def attr_tuple(node: Node, key: str, default=()) -> Tuple[int, ...]:
    """An MXNet tuple attribute (``"(3, 3)"``) as ints."""
    text = node.attrs.get(key)
    if text is None:
        return tuple(default)
    text = text.strip("()[] ")
    return tuple(int(float(v)) for v in text.split(",") if v.strip() and v.strip() != "None")


def attr_bool(node: Node, key: str, default: bool) -> bool:
    text = node.attrs.get(key)
    return default if text is None else text.strip().lower() in ("true", "1")


def attr_float(node: Node, key: str, default: float) -> float:
    text = node.attrs.get(key)
    return default if text is None else float(text)
