"""Names (issue 11): the converter's own names never collide with a user's, and every name
Caffe accepts converts to every format, which then loads and runs with the right numbers.

Hostile names (quotes, backslashes, dots, slashes, newlines, unicode, keywords, dunders, the
in-place mark ``#``, every attribute of an ``nn.Module`` instance) come from the fuzz corpus
(:data:`fuzz_corpus.HOSTILE_NAMES`) and from torch itself.
"""

from __future__ import annotations

import keyword

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fuzz_corpus as F
from converter import load_torch, to_torch
from converter.backends.torch.net import CaffeNet
from converter.caffe.reader import parse_prototxt_text
from converter.caffe.writer import write_caffemodel
from converter.cli.convert import main
from converter.ir import Layer, Net
from converter.ir.names import safe_identifier

_SETTINGS = settings(derandomize=True, database=None, deadline=None, max_examples=300,
                     suppress_health_check=list(HealthCheck))
#: Short names over an alphabet rich in the in-place mark and digits, so that user names
#: like ``b#1`` (the converter's former internal names) come up often.
_NAME = st.text(alphabet="ab#1_2 .", min_size=1, max_size=4)


@st.composite
def _nets(draw):
    """A random net of ReLU layers over random blob names: each layer reads defined blobs
    and writes new blobs or (in place) its first bottom."""
    names = draw(st.lists(_NAME, min_size=2, max_size=8, unique=True))
    # and names like the converter's former in-place names for them (``b#1``)
    marked = draw(st.lists(st.tuples(st.sampled_from(names), st.integers(1, 3)), max_size=4))
    names = list(dict.fromkeys(names + [f"{n}#{k}" for n, k in marked]))
    pool, defined = list(names[1:]), [names[0]]
    layers = []
    for i in range(draw(st.integers(1, 10))):
        bottoms = draw(st.lists(st.sampled_from(defined), min_size=1, max_size=2))
        if pool and not draw(st.booleans()):
            tops = [pool.pop(draw(st.integers(0, len(pool) - 1)))]
        else:
            tops = [bottoms[0]]
        defined.extend(t for t in tops if t not in defined)
        layers.append(Layer(f"l{i}", "ReLU", bottoms, tops))
    return Net("n", layers, {names[0]: (1,)})


def _caffe_semantics(net: Net):
    """What each layer reads and each blob finally holds, as Caffe runs the net in place:
    values are (layer index, top index)."""
    env = {name: ("input", name) for name in net.inputs}
    reads = []
    for i, layer in enumerate(net.layers):
        reads.append([env[b] for b in layer.bottoms])
        env.update({t: (i, j) for j, t in enumerate(layer.tops)})
    return reads, env


@_SETTINGS
@given(net=_nets())
def test_ssa_names_never_collide_with_user_names(net):
    """Every SSA name has one producer, and the SSA net reads exactly what Caffe reads."""
    ssa, final = net.ssa()
    produced = list(ssa.inputs) + [t for layer in ssa.layers for t in layer.tops]
    assert len(produced) == len(set(produced))
    reads, env = _caffe_semantics(net)
    values = {name: ("input", name) for name in ssa.inputs}
    for i, layer in enumerate(ssa.layers):
        assert [values[b] for b in layer.bottoms] == reads[i]
        values.update({t: (i, j) for j, t in enumerate(layer.tops)})
    assert {blob: values[s] for blob, s in final.items()} == env


@_SETTINGS
@given(names=st.lists(st.text(min_size=0, max_size=6), unique=True, max_size=20))
def test_safe_identifiers_are_distinct_and_safe(names):
    taken, reserved = set(), {"training", "plan"}
    got = [safe_identifier(n, taken, reserved) for n in names]
    assert len(set(got)) == len(got)
    for ident in got:
        assert ident and ident.isascii() and not keyword.iskeyword(ident)
        assert ident.replace("/", "_").isidentifier() or ident[0].isdigit()
        assert ident not in reserved


def test_user_blob_named_like_an_in_place_result(tmp_path):
    """Defect 1: a blob named ``conv#3`` beside a blob ``conv`` with three in-place layers
    (whose last write was once called ``conv#3``) changed every format's numbers (exit 0)."""
    net = parse_prototxt_text(F.TINY_PROTOTXT)
    weights = F.random_weights(net, 1)
    plain = to_torch(net, weights)
    for layer in net.layers:
        layer.tops = ["conv#3" if t == "gconv" else t for t in layer.tops]
        layer.bottoms = ["conv#3" if b == "gconv" else b for b in layer.bottoms]
    x = torch.from_numpy(np.random.default_rng(0).standard_normal((1, 3, 9, 11), np.float32))
    torch.testing.assert_close(to_torch(net, weights)(x), plain(x), rtol=0, atol=0)
    from converter.backends.mxnet import forward_all  # noqa: F401  (needs mxnet)
    got = forward_all(net, weights, x.numpy())
    np.testing.assert_allclose(got["prob"], plain(x).detach().numpy(), atol=1e-6)


def test_mxnet_forward_all_keeps_every_blob_name():
    """Blob names holding ',' (once the separator of MXNet's blob tags) come back whole."""
    from converter.backends.mxnet import forward_all
    net, weights, blobs = F.renamed_tiny(F.HOSTILE_NAMES, 0)
    assert "a,b" in blobs.values()
    x = np.zeros((1, 3, 9, 11), np.float32)
    assert set(forward_all(net, weights, x)) == set(blobs.values())


def test_onnx_output_names_stay_distinct(tmp_path, capsys):
    """Outputs 'a/b' and 'a_b' (and one named like the input) once got one ONNX name."""
    ort = pytest.importorskip("onnxruntime")
    net = parse_prototxt_text(F.TINY_PROTOTXT)
    weights = F.random_weights(net, 1)
    for layer in net.layers:
        rename = {"sig": "a/b", "tanh": "a_b", "pow": "data"}
        layer.tops = [rename.get(t, t) for t in layer.tops]
        layer.bottoms = [rename.get(b, b) for b in layer.bottoms]
    model, out = tmp_path / "m.caffemodel", tmp_path / "m.onnx"
    write_caffemodel(net, weights, model)
    x = np.random.default_rng(4).standard_normal((1, 3, 9, 11)).astype(np.float32)
    assert main(["caffe2torch", str(model), "-o", str(out), "--outputs", "a/b,a_b,data"]) == 0
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert [o.name for o in session.get_outputs()] == ["a_b", "a_b_1", "data_1"]
    ref = to_torch(net, weights, outputs=["a/b", "a_b", "data"])(torch.from_numpy(x))
    for got, want in zip(session.run(None, {"data": x}), ref):
        np.testing.assert_allclose(got, want.detach().numpy(), atol=1e-6)


def _module_attribute_names():
    """Every attribute of a CaffeNet instance: nn.Module's and CaffeNet's own."""
    probe = CaffeNet([], [], {}, {}, [], {}, False)
    return sorted(set(dir(probe)) | set(vars(probe)))


def _chain(names):
    """Input, then one Power layer per name (every other one in place), with its weights
    (none) and the float64 reference of y = 0.01 + 1.01 x applied len(names) times."""
    net = Net("chain", [Layer("data", "Input", [], ["data"])])
    net.layers[0].params = net.layers[0].params.__class__(shape=((1, 2, 3, 4),))
    blob = "data"
    for i, name in enumerate(names):
        top = name if i % 2 == 0 and name != "data" else blob
        layer = Layer(name, "Power", [blob], [top])
        layer.params = layer.params.__class__(power=1.0, scale=1.01, shift=0.01)
        net.layers.append(layer)
        blob = top
    return net, blob


def _run_all_formats(net, weights, x, tmp_path, capsys):
    """Convert ``net`` with the CLI to every format; load each file with its framework's
    own loader and return the outputs on ``x`` (batch 2)."""
    model = tmp_path / "m.caffemodel"
    write_caffemodel(net, weights, model)
    outs = {}
    for fmt in ("safetensors", "pt2", "onnx", "mxnet"):
        target = tmp_path / ("m" if fmt == "mxnet" else f"m.{fmt}")
        cmd = "caffe2mxnet" if fmt == "mxnet" else "caffe2torch"
        code = main([cmd, str(model), "-o", str(target)])
        assert code == 0, (fmt, capsys.readouterr().err)
        outs[fmt] = _load_and_run(fmt, target, x)
    code = main(["caffe2torch", str(model), "-o", str(tmp_path / "f.safetensors"), "--fold-bn"])
    assert code == 0, capsys.readouterr().err
    outs["fold-bn"] = _load_and_run("safetensors", tmp_path / "f.safetensors", x)
    return outs


def _load_and_run(fmt, target, x):
    if fmt == "safetensors":
        return load_torch(target)[0](torch.from_numpy(x)).detach().numpy()
    if fmt == "pt2":
        return torch.export.load(str(target)).module()(torch.from_numpy(x)).detach().numpy()
    if fmt == "onnx":
        ort = pytest.importorskip("onnxruntime")
        session = ort.InferenceSession(str(target), providers=["CPUExecutionProvider"])
        return session.run(None, {"data": x})[0]
    mx = pytest.importorskip("mxnet")
    block = mx.gluon.SymbolBlock.imports(f"{target}-symbol.json", ["data"],
                                         f"{target}-0000.params")
    return block(mx.nd.array(x)).asnumpy()


@pytest.mark.parametrize("shift", [0, 17])
def test_hostile_names_convert_to_every_format(tmp_path, capsys, shift):
    """Defect 2: every hostile name as a layer and as a blob name of the tiny net (all layer
    types, in-place layers, weights): each format loads and gives the plain net's numbers."""
    net, weights, _ = F.renamed_tiny(F.HOSTILE_NAMES, shift)
    plain = parse_prototxt_text(F.TINY_PROTOTXT)
    plain_weights = {p.name: weights[n.name] for p, n in zip(plain.layers, net.layers)
                     if n.name in weights}
    x = np.random.default_rng(2).standard_normal((2, 3, 9, 11)).astype(np.float32)
    ref = to_torch(plain, plain_weights)(torch.from_numpy(x)).detach().numpy()
    for fmt, got in _run_all_formats(net, weights, x, tmp_path, capsys).items():
        # float32 ops in other orders (oneDNN, ORT, MXNet): measured max 3e-7 on this net
        np.testing.assert_allclose(got, ref, rtol=0, atol=2e-6, err_msg=fmt)


def test_every_module_attribute_as_a_layer_name(tmp_path, capsys):
    """Defect 2: layer names equal to nn.Module instance attributes (``_modules``, hook
    dictionaries, methods...) crashed caffe2torch with a traceback."""
    names = _module_attribute_names() + list(F.HOSTILE_NAMES)
    names = list(dict.fromkeys(n for n in names if n != "data"))
    net, _ = _chain(names)
    x = np.random.default_rng(3).standard_normal((2, 2, 3, 4)).astype(np.float32)
    ref = x.astype(np.float64)
    for _ in names:
        ref = 0.01 + 1.01 * ref
    for fmt, got in _run_all_formats(net, {}, x, tmp_path, capsys).items():
        np.testing.assert_allclose(got, ref, rtol=1e-5, err_msg=fmt)
