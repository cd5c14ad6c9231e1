"""PyTorch back end: a real ``nn.Module`` built from the IR, loaded with Caffe weights by name.

The module runs a static plan over the SSA form of the net (``Net.ssa``): a list of
``(submodule name, bottom SSA names, top SSA names)`` in Caffe's layer order. Submodules are
named after Caffe layers, so the state_dict reads ``conv1.weight``, ``bn_conv1.mean``, ...
What runs is the plan compiled to steps (``plan.py``: in-place reuse of dead values;
``fusion.py``: ReLU / Eltwise SUM fused into the convolution feeding them). The steps are
plain Python over fixed lists, so ``torch.export`` unrolls them (batch dimension dynamic)
and ONNX export works.
"""

from __future__ import annotations

import functools
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import nn

from ...errors import MismatchError, UnsupportedLayerError, UsageError
from ...ir.graph import Net
from ...ir.names import safe_identifier
from ...ir.shapes import infer_shapes
from ...layers import legacy_shape_matches, unsupported_error
from .fold import fold_batchnorm
from .module import weights_follow
from .plan import compile_plan
from .registry import CONVERTERS, INPUT_TYPES, NOT_CONVERTED, supported_types

Step = Tuple[str, Tuple[str, ...], Tuple[str, ...]]


class CaffeNet(nn.Module):
    """A converted Caffe net.

    ``forward(*inputs)`` takes the net's inputs in ``input_names`` order and returns the
    requested Caffe blobs (one tensor, or a tuple). ``forward_all(*inputs)`` returns every
    computed Caffe blob's final value (after in-place layers), keyed by Caffe name.
    """

    def __init__(self, input_names: Sequence[str], plan: Sequence[Step],
                 modules: Dict[str, nn.Module], layer_modules: Dict[str, str],
                 outputs: Sequence[str], blob_map: Dict[str, str], single: bool):
        super().__init__()
        self.input_names = list(input_names)
        self.plan: List[Step] = [tuple(s) for s in plan]
        for name, module in modules.items():
            self.add_module(name, module)
        #: Caffe layer name -> submodule name (after sanitising; only layers in the plan).
        self.layer_modules = dict(layer_modules)
        #: Caffe blob name -> SSA name of its final value.
        self.blob_map = dict(blob_map)
        self.output_names = list(outputs)
        self.single_output = single
        self.folded: List[str] = []
        #: plan step -> index of the bottom whose memory it may reuse, for forward and for
        #: forward_all (which returns every blob, so may reuse less); see plan_inplace.
        self.reuse: Dict[int, int] = {}
        self.reuse_all: Dict[int, int] = {}
        #: Fold ReLU / Eltwise SUM into the convolution feeding them (see fusion.py), and
        #: let steps compute in dead values' memory (plan_inplace): both change no value.
        self.fuse_post_ops = True
        self.reuse_memory = True
        self._steps: List[tuple] = []
        self._steps_all: List[tuple] = []
        self._planned: list = []
        self.plan_inplace()

    def _plan_key(self) -> list:
        return [(tuple(self.output_names), self.fuse_post_ops, self.reuse_memory)] + [
            (s, self._modules.get(s[0])) for s in self.plan]

    def plan_inplace(self) -> None:
        """Plan memory reuse and post-op fusion again (see ``plan.py``); done on its own
        when the plan, the submodules, ``fuse_post_ops`` or ``reuse_memory`` change."""
        self._planned = self._plan_key()
        inputs = list(self.input_names)
        returned = {self.blob_map[n] for n in self.output_names}
        compiled = compile_plan(self.plan, self._modules, inputs, returned,
                                set(self.blob_map.values()), fuse=self.fuse_post_ops,
                                reuse_memory=self.reuse_memory)
        self._steps, self._steps_all = compiled.steps, compiled.steps_all
        self.reuse, self.reuse_all = dict(compiled.reuse), dict(compiled.reuse_all)

    def use_plan(self, plan: Sequence[Step]) -> None:
        """Run ``plan`` from now on (e.g. :func:`.fold.fold_batchnorm`'s): submodules it no
        longer names are dropped (and listed in ``folded``), and memory is planned again."""
        self.plan = [tuple(s) for s in plan]
        kept = {name for name, _, _ in self.plan}
        gone = [name for name in self.layer_modules.values() if name not in kept]
        for name in gone:
            delattr(self, name)
        self.layer_modules = {k: v for k, v in self.layer_modules.items() if v in kept}
        self.folded.extend(gone)
        self.plan_inplace()

    def _run(self, inputs, every: bool) -> Dict[str, torch.Tensor]:
        if len(inputs) != len(self.input_names):
            raise UsageError(f"expected {len(self.input_names)} input(s) "
                             f"({', '.join(self.input_names)}), got {len(inputs)}")
        if self._planned != self._plan_key():  # plan or submodules changed since (fold_bn)
            self.plan_inplace()
        env = dict(zip(self.input_names, inputs))
        for name, bottoms, tops, kwargs in (self._steps_all if every else self._steps):
            result = self._modules[name](*[env[b] for b in bottoms], **kwargs)
            if len(tops) == 1:
                env[tops[0]] = result
            else:
                env.update(zip(tops, result))
        return env

    def forward(self, *inputs):
        env = self._run(inputs, every=False)
        values = tuple(_standard(env[self.blob_map[name]]) for name in self.output_names)
        return values[0] if self.single_output else values

    def forward_all(self, *inputs) -> Dict[str, torch.Tensor]:
        """Every Caffe blob the plan computes (plus the inputs), in Caffe's ``net.blobs``
        order, each holding its final value as Caffe's ``net.blobs[name].data`` would."""
        env = self._run(inputs, every=True)
        return {name: _standard(env[ssa]) for name, ssa in self.blob_map.items() if ssa in env}


def _standard(t: torch.Tensor) -> torch.Tensor:
    """``t`` in the standard contiguous layout: inside the plan, values computed from a
    packed oneDNN convolution are channels_last (see onednn.py); callers get NCHW."""
    if t.dim() == 4 and not t.is_contiguous() \
            and t.is_contiguous(memory_format=torch.channels_last):
        return t.contiguous()
    return t


def unsupported_report(net: Net) -> None:
    """Raise one UnsupportedLayerError naming every layer whose type has no converter."""
    bad = [(l.name, l.type, NOT_CONVERTED.get(l.type)) for l in net.layers
           if l.type not in CONVERTERS and l.type not in INPUT_TYPES]
    if bad:
        raise unsupported_error(bad, supported_types(), target=" to PyTorch")


def sanitize_module_name(name: str, taken: set) -> str:
    """A submodule name for Caffe layer ``name`` that torch, torch.export and ONNX accept:
    ASCII letters, digits, ``_`` and ``/``, shadowing no attribute of a CaffeNet instance,
    unique among ``taken`` (see :func:`converter.ir.names.safe_identifier`)."""
    return safe_identifier(name, taken, _reserved_attributes())


@functools.lru_cache(maxsize=1)
def _reserved_attributes() -> frozenset:
    """Every attribute of a CaffeNet instance (nn.Module's ``_modules``, hook dictionaries,
    methods... and CaffeNet's own), which a submodule must not shadow."""
    probe = CaffeNet([], [], {}, {}, [], {}, False)
    return frozenset(dir(probe)) | frozenset(vars(probe))


def _resolve_outputs(net: Net, final: Dict[str, str], outputs) -> Tuple[List[str], bool]:
    """Caffe blob names to return and whether to return a bare tensor."""
    if outputs is None:
        names, single = net.output_blobs(), None
    elif isinstance(outputs, str):
        names, single = [outputs], True
    else:
        names, single = list(outputs), False
    unknown = [n for n in names if n not in final]
    if unknown or not names:
        raise UsageError(f"unknown output blob(s) {unknown}; the net's blobs are: "
                         f"{', '.join(final)}")
    return names, (len(names) == 1) if single is None else single


def _needed_layers(ssa_net: Net, wanted: set) -> set:
    """Names of the layers the wanted SSA blobs depend on (everything else is pruned)."""
    needed, wanted = set(), set(wanted)
    for layer in reversed(ssa_net.layers):
        if layer.type not in INPUT_TYPES and wanted.intersection(layer.tops):
            needed.add(layer.name)
            wanted.update(layer.bottoms)
    return needed


def build_module(net: Net, outputs=None) -> CaffeNet:
    """Build an (unloaded) CaffeNet. Every unsupported layer (type or option) is reported
    in one UnsupportedLayerError before anything else happens."""
    unsupported_report(net)
    net.validate(shapes=False)
    ssa_net, final = net.ssa()
    shapes = infer_shapes(ssa_net)
    names, single = _resolve_outputs(net, final, outputs)
    needed = _needed_layers(ssa_net, {final[n] for n in names})
    modules, layer_modules, plan, problems, taken = {}, {}, [], [], set()
    for layer in ssa_net.layers:
        if layer.name not in needed:
            continue
        try:
            module = CONVERTERS[layer.type](layer, [shapes[b] for b in layer.bottoms])
        except UnsupportedLayerError as exc:
            problems.append((layer.name, layer.type, exc.message))
            continue
        mname = sanitize_module_name(layer.name, taken)
        modules[mname], layer_modules[layer.name] = module, mname
        plan.append((mname, tuple(layer.bottoms), tuple(layer.tops)))
    if problems:
        raise unsupported_error(problems, supported_types(), target=" to PyTorch")
    blob_map = {name: final[name] for name in net.blob_names()}
    return CaffeNet(list(net.input_blobs()), plan, modules, layer_modules, names,
                    blob_map, single)


def _as_tensor(arr: np.ndarray, like: torch.Tensor) -> torch.Tensor:
    """Wrap ``arr`` without copying when its dtype matches (torch.from_numpy shares memory);
    read-only arrays are copied, since parameters must be writable."""
    arr = np.asarray(arr)
    if arr.dtype != torch_to_numpy_dtype(like.dtype):
        arr = arr.astype(torch_to_numpy_dtype(like.dtype))
    elif not arr.flags.writeable or any(st < 0 for st in arr.strides):
        arr = arr.copy()  # torch.from_numpy rejects negative strides
    return torch.from_numpy(arr).to(like.device)


def torch_to_numpy_dtype(dtype: torch.dtype):
    """The NumPy dtype of a floating torch dtype."""
    return torch.empty((), dtype=dtype).numpy().dtype


def checked_shape(arr, expected, layer, i) -> Tuple[int, ...]:
    """Caffe's Blob::ShapeEquals: exact, or a legacy 4-D (num, channels, height, width)
    shape equal to the expected one left-padded with 1s. Returns the shape to view as."""
    shape, expected = tuple(np.shape(arr)), tuple(expected)
    if shape == expected or legacy_shape_matches(shape, expected):
        return expected
    raise MismatchError(f"blob {i} has shape {list(shape)} in the weights but the net needs "
                        f"{list(expected)}", layer=layer.name, layer_type=layer.type)


def layer_blob_pairs(module: nn.Module, layer, blobs) -> List[Tuple[str, object]]:
    """``(attribute, blob)`` pairs for one layer's blobs (Caffe order) and ``module``'s
    ``caffe_blobs``, after the blob count checks (MismatchError naming the layer)."""
    attrs = getattr(module, "caffe_blobs", ())
    blobs = [] if blobs is None and not attrs else blobs
    if blobs is None:
        raise MismatchError(f"no weights for this layer (it needs {len(attrs)} blob(s): "
                            f"{', '.join(attrs)})", layer=layer.name, layer_type=layer.type)
    if len(blobs) != len(attrs):
        raise MismatchError(f"the weights have {len(blobs)} blob(s) but the net needs "
                            f"{len(attrs)} ({', '.join(attrs) or 'none'})",
                            layer=layer.name, layer_type=layer.type)
    return list(zip(attrs, blobs))


def _load_layer(module: nn.Module, layer, blobs) -> None:
    """Load one layer's blobs (Caffe order) into ``module``'s ``caffe_blobs`` attributes."""
    for i, (attr, arr) in enumerate(layer_blob_pairs(module, layer, blobs)):
        target = getattr(module, attr)
        tensor = _as_tensor(arr, target).reshape(checked_shape(arr, target.shape, layer, i))
        if isinstance(target, nn.Parameter):
            target.data = tensor
        else:
            module._buffers[attr] = tensor


def layers_for_weights(net: Net, weights, allow_unused: bool = False) -> Dict[str, object]:
    """Layer name -> layer of ``net``; MismatchError if ``weights`` name layers the net
    lacks (unless ``allow_unused``)."""
    layers = {l.name: l for l in net.layers}
    unused = [name for name in weights if name not in layers]
    if unused and not allow_unused:
        raise MismatchError(f"the weights have layer(s) the net lacks: {', '.join(unused)} "
                            f"(pass allow_unused=True to ignore them)")
    return layers


def load_weights(module: CaffeNet, net: Net, weights: Dict[str, List[np.ndarray]],
                 allow_unused: bool = False) -> CaffeNet:
    """Load Caffe weights (layer name -> blobs in Caffe order) into ``module`` by name.

    Raises MismatchError (naming the layer, blob index and both shapes) for a wrong shape or
    blob count, a parametric layer without weights, or -- unless ``allow_unused`` -- weights
    for layers the net does not have.
    """
    if module.folded:
        raise UsageError("load weights before folding BatchNorm (fold_bn)")
    layers = layers_for_weights(net, weights, allow_unused)
    for name, mname in module.layer_modules.items():
        _load_layer(module._modules[mname], layers[name], weights.get(name))
    return module


def to_torch(net: Net, weights: Optional[Dict[str, List[np.ndarray]]] = None,
             outputs: Union[None, str, Sequence[str]] = None, fold_bn: bool = False,
             allow_unused: bool = False) -> CaffeNet:
    """Convert an IR net (and its weights) to a :class:`CaffeNet` in eval mode.

    ``outputs``: Caffe blob names to return -- a list gives a tuple in that order, a single
    string a tensor; default the net's outputs (a tensor if there is one). Layers that the
    outputs do not depend on are left out. ``fold_bn`` folds BatchNorm (and a following
    per-channel Scale) into the preceding Convolution where that is exact in real arithmetic.
    """
    if weights is None:
        module = build_module(net, outputs)
    else:
        # Every Caffe blob is loaded (or load_weights raises): skip the zero fill.
        with weights_follow():
            module = build_module(net, outputs)
        load_weights(module, net, weights, allow_unused=allow_unused)
    if fold_bn:
        module.use_plan(fold_batchnorm(module))
    return module.eval()
