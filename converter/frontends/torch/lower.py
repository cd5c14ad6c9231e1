"""Walking a ``torch.export`` ATen graph and lowering it to the IR.

The program is first brought to functional ATen with composite ops kept
(``run_decompositions({})``: ``conv2d``, ``linear``, ``max_pool2d``... stay whole, in-place ops
become functional). Each node is then one of:

* a user input -> an Input layer;
* a *constant*: a parameter, buffer or lifted constant, or a node computed from constants
  only (a weight transpose, a BatchNorm statistic divided by its factor); it is evaluated
  with torch once, so every op sees plain tensors for its weights;
* a tensor op -> the converter registered for its ATen name (``ops.py``), which adds Caffe
  layers through the :class:`~converter.frontends.builder.NetBuilder`.

No hooks and no monkey-patching: names come from the graph's own ``nn_module_stack``
metadata, so a layer is called ``layer1.0.conv1`` as its module is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

import torch
from torch.fx import Node
from torch.fx.node import map_aggregate

from ..builder import Blob, NetBuilder

Converter = Callable[["Lowering", Node], Any]
CONVERTERS: Dict[str, Converter] = {}
#: Module class name -> converter for every tensor op that module runs (modules whose
#: arithmetic is one Caffe layer but several ATen ops, e.g. this project's CaffeBatchNorm).
MODULE_CONVERTERS: Dict[str, Converter] = {}


def register(*names: str):
    """Register a converter for ATen op names (``"conv2d"``, ``"relu"``); twice is a bug."""
    def wrap(fn: Converter) -> Converter:
        for name in names:
            if name in CONVERTERS:
                raise ValueError(f"torch front-end converter for {name} registered twice")
            CONVERTERS[name] = fn
        return fn
    return wrap


def register_module(class_name: str):
    """Register a converter for every op run by modules of class ``class_name``."""
    def wrap(fn: Converter) -> Converter:
        if class_name in MODULE_CONVERTERS:
            raise ValueError(f"module converter for {class_name} registered twice")
        MODULE_CONVERTERS[class_name] = fn
        return fn
    return wrap


def op_name(node: Node) -> str:
    """``aten.conv2d.default`` -> ``conv2d``; ``operator.getitem`` -> ``getitem``."""
    target = node.target
    if isinstance(target, torch._ops.OpOverload):
        return target._schema.name.split("::", 1)[-1]
    return getattr(target, "__name__", str(target))


def module_of(node: Node) -> Tuple[str, str]:
    """``(module path, module class)`` of the innermost module that ran ``node``."""
    stack = node.meta.get("nn_module_stack") or {}
    if not stack:
        return "", ""
    path, cls = list(stack.values())[-1]
    cls = cls if isinstance(cls, str) else f"{cls.__module__}.{cls.__qualname__}"
    return path, cls


@dataclass
class Lowering:
    """State of one lowering: the builder, the blob or constant of every node so far."""
    builder: NetBuilder
    constants: Dict[str, Any]
    state: Dict[str, Any]
    values: Dict[Node, Any] = field(default_factory=dict)

    # ------------------------------------------------------------ node values
    def value(self, arg):
        """A node argument as the converters see it: Blob, constant tensor, or Python value
        (lists mapped element-wise)."""
        return map_aggregate(arg, lambda a: self.values[a] if isinstance(a, Node) else a)

    def blob(self, node: Node) -> Optional[Blob]:
        """The Blob of a tensor argument, or None when it is a constant."""
        v = self.values.get(node) if isinstance(node, Node) else None
        return v if isinstance(v, Blob) else None

    def where(self, node: Node) -> str:
        """Where an op comes from, for error messages: its module path and node name."""
        path, _ = module_of(node)
        return f"{path or '<top level>'}, node {node.name}"

    def layer_name(self, node: Node, op: str = "") -> str:
        """The Caffe name for a layer made from ``node``: its module path when the module is
        a leaf (one op, e.g. ``layer1.0.conv1``), else path + op name (``layer1.0.add``);
        ``op`` overrides the ATen name (a ``view`` that flattens is called ``flatten``)."""
        path, cls = module_of(node)
        if not path or not _is_leaf(cls):
            op = op or op_name(node)
            path = f"{path}.{op}" if path else op
        return path

    def shape(self, node: Node) -> Tuple[int, ...]:
        """The concrete shape of a node's tensor value (from the export's fake tensor; the
        first output's for ops returning several)."""
        val = node.meta["val"]
        val = val[0] if isinstance(val, (tuple, list)) else val
        return tuple(int(d) for d in val.shape)

    # ------------------------------------------------------------------- walk
    def run(self, graph) -> List[Blob]:
        """Lower every node; returns the output blobs."""
        for node in graph.nodes:
            if node.op == "placeholder":
                self._placeholder(node)
            elif node.op == "call_function":
                self._call(node)
            elif node.op == "output":
                return [self.values.get(n) for n in node.args[0] if isinstance(n, Node)]
        return []

    def _placeholder(self, node: Node) -> None:
        if node.name in self.constants:
            self.values[node] = self.constants[node.name]
            return
        val = node.meta.get("val")
        if not isinstance(val, torch.Tensor):
            self.builder.unsupported(f"non-tensor input '{node.name}'", "")
            return
        name = self.builder.add_input(node.name, self.shape(node))
        self.values[node] = Blob(name, self.shape(node))

    def _call(self, node: Node) -> None:
        args = node.all_input_nodes
        if all(a in self.values and not isinstance(self.values[a], Blob) for a in args):
            self.values[node] = self._evaluate(node)
            return
        name = op_name(node)
        converter = MODULE_CONVERTERS.get(module_of(node)[1].rsplit(".", 1)[-1]) or \
            CONVERTERS.get(name)
        result = None
        if converter is None:
            self.builder.unsupported(f"aten.{name}", self.where(node))
        else:
            result = converter(self, node)
        if result is None:
            # Refused: a stand-in lets the walk go on and report every later op too.
            result = map_aggregate(node.meta.get("val"), lambda v: Blob(
                f"<{node.name}>", tuple(v.shape)) if isinstance(v, torch.Tensor) else None)
        self.values[node] = result

    def _evaluate(self, node: Node):
        """Run a constants-only node with torch (weight transposes, statistics / factor)."""
        args, kwargs = self.value(node.args), self.value(node.kwargs)
        with torch.no_grad():
            return node.target(*args, **kwargs)


def _is_leaf(cls: str) -> bool:
    """torch.nn's own modules (Conv2d, ReLU...) and the project's Caffe modules run one
    logical op each; user classes (a ResNet block) run many."""
    return cls.startswith("torch.nn.modules.") or ".Caffe" in cls
