"""``constants_frozen`` (what ``.pt2`` export traces under): every output is bit for bit the
module's own, the per-channel BatchNorm/Scale arithmetic leaves the traced graph, and nothing
stays frozen afterwards."""

from __future__ import annotations

import collections

import pytest
import torch

from converter.backends.torch import onednn
from converter.backends.torch.module import CaffeModule, constants_frozen
from converter.backends.torch.net import to_torch
from golden_support import GOLDEN_FILES, load_golden_case

#: Golden nets with BatchNorm or Scale (batch and global statistics, 2-D and 4-D bottoms,
#: the two-bottom Scale form, factor 0) -- the modules that freeze anything.
CASES = [p for p in GOLDEN_FILES if p.stem in (
    "kaiming_resnet50", "layers_batchnorm", "layers_scale", "layers_bias", "cifar_preact_n3_A",
    "cifar_mxnet_n3", "layers_resblock")]


def inputs(golden, model):
    return [torch.from_numpy(golden.inputs[name]) for name in model.input_names]


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_frozen_outputs_are_bit_identical(path, tmp_path):
    golden, net, weights = load_golden_case(path, tmp_path)
    model = to_torch(net, weights).eval()
    x = inputs(golden, model)
    with torch.no_grad():
        plain = model.forward_all(*x)
        with constants_frozen(model):
            frozen_modules = [m for m in model.modules()
                              if isinstance(m, CaffeModule) and m._frozen is not None]
            frozen = model.forward_all(*x)
    assert plain.keys() == frozen.keys()
    for name in plain:
        assert torch.equal(plain[name], frozen[name]), name
    caffe_modules = [m for m in model.modules() if isinstance(m, CaffeModule)]
    assert all(m._frozen is None for m in caffe_modules)  # nothing stays frozen
    with torch.no_grad():
        expected = [m for m in caffe_modules if m.frozen_constants() is not None]
    assert frozen_modules == expected


def test_export_graph_has_no_per_channel_statistics(tmp_path):
    path = next(p for p in GOLDEN_FILES if p.stem == "kaiming_resnet50")
    golden, net, weights = load_golden_case(path, tmp_path)
    model = to_torch(net, weights).eval()
    x = inputs(golden, model)[0]
    batch = torch.export.Dim("batch", min=1, max=64)
    with constants_frozen(model):
        program = torch.export.export(model, (torch.cat([x, x]),),
                                      dynamic_shapes=(({0: batch},),))
    ops = collections.Counter(str(n.target).split(".")[1] for n in program.graph.nodes
                              if n.op == "call_function")
    # Per BatchNorm + Scale: sub, div, add (eps), sqrt, mul, add -- nothing derived from f.
    assert not {"where", "reciprocal", "zeros_like", "select", "eq"} & set(ops)
    bn = sum(1 for layer in net.layers if layer.type == "BatchNorm")
    assert ops["sqrt"] == bn and ops["conv2d"] == bn
    # The exported graph runs aten.conv2d: compare with the module on that path too (the
    # packed oneDNN path of eager no-grad calls sums in another order).
    previous = onednn.set_enabled(False)
    try:
        with torch.no_grad():
            assert torch.equal(program.module()(x), model(x))
    finally:
        onednn.set_enabled(previous)
