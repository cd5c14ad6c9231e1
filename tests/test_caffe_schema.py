"""Files written with a Caffe fork's schema (``--caffe-proto`` / ``load_caffe(caffe_proto=)``)
and the public registration API for custom layer types (converter.caffe.schema)."""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import converter
from converter import layers as catalogue
from converter.caffe.proto import NetParameter
from converter.caffe.reader import read_prototxt
from converter.caffe.schema import load_schema
from converter.cli.convert import main
from converter.errors import CaffeFormatError, UnsupportedLayerError

FORK = Path(__file__).parent / "forks" / "ssd_like.proto"

NET = """
name: "fork"
layer {{ name: "data" type: "Input" top: "data" input_param {{ shape {{ dim: 1 dim: 3 dim: 8 dim: 8 }} }} }}
layer {{ name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
        convolution_param {{ num_output: 4 kernel_size: 3 pad: 1 {conv} }} }}
layer {{ name: "norm1" type: "{norm}" bottom: "conv1" top: "norm1"
        {norm_param} }}
layer {{ name: "pool1" type: "Pooling" bottom: "norm1" top: "pool1"
        pooling_param {{ pool: MAX kernel_size: 3 stride: 2 {pool} }} }}
"""


def net_text(conv="", norm="Normalize", pool="",
             norm_param="norm_param { across_spatial: false channel_shared: false eps: 1e-6 }"):
    return NET.format(conv=conv, norm=norm, pool=pool, norm_param=norm_param)


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def full_fork(tmp_path) -> Path:
    """A whole fork caffe.proto (BVLC's text edited as a fork edits it): Normalize added, and
    an older rounding flag, ``ceil_mode``, holding the number BVLC gives ``round_mode``."""
    text = resources.files("converter.caffe").joinpath("caffe.proto").read_text()
    text = text.replace("optional RoundMode round_mode = 13 [default = CEIL];",
                        "optional bool ceil_mode = 13 [default = true];")
    text = text.replace("optional PoolingParameter pooling_param = 121;",
                        "optional PoolingParameter pooling_param = 121;\n"
                        "  optional NormalizeParameter norm_param = 206;")
    text += ("\nmessage NormalizeParameter {\n  optional bool across_spatial = 1 "
             "[default = true];\n  optional bool channel_shared = 3 [default = true];\n"
             "  optional float eps = 4 [default = 1e-10];\n}\n")
    return write(tmp_path, "full_fork.proto", text)


# ---------------------------------------------------------- a custom layer type

@dataclass(frozen=True)
class NormalizeParam:
    """The fork's NormalizeParameter (its defaults)."""
    across_spatial: bool = True
    channel_shared: bool = True
    eps: float = 1e-10


def _register_normalize():
    """What a user's own code does: the public API only."""
    import torch
    from converter.backends import torch as torch_backend

    @catalogue.register("Normalize")
    class Normalize(catalogue.LayerType):
        params, field = NormalizeParam, "norm_param"
        bottoms, tops = (1, 1), (1, 1)

        def shape(layer, bottoms):
            channels = 1 if layer.params.channel_shared else bottoms[0][1]
            return [bottoms[0]], [(channels,)]

    class CaffeNormalize(torch_backend.CaffeModule):
        caffe_blobs = ("scale",)

        def __init__(self, channels, eps):
            super().__init__()
            self.scale, self.eps = torch.nn.Parameter(torch.ones(channels)), eps

        def forward(self, x):
            norm = torch.sqrt((x * x).sum(1, keepdim=True) + self.eps)
            return x / norm * self.scale.view(1, -1, 1, 1)

    @torch_backend.register("Normalize")
    def convert_normalize(layer, shapes):
        if layer.params.across_spatial:
            raise UnsupportedLayerError("across_spatial is not converted", layer=layer.name)
        return CaffeNormalize(1 if layer.params.channel_shared else shapes[0][1],
                              layer.params.eps)


@pytest.fixture
def normalize():
    """Registers Normalize for one test, then removes it (the registries are global)."""
    pytest.importorskip("torch")
    from converter.backends.torch import CONVERTERS
    _register_normalize()
    yield
    catalogue.LAYERS.pop("Normalize")
    CONVERTERS.pop("Normalize")


def reference(x, w, b, scale, eps):
    """numpy float64: 3x3 convolution (pad 1), channel L2 normalisation, 3x3/2 max pooling
    with Caffe's ceil rounding (8 -> 4: the last window clipped)."""
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (1, 1), (1, 1)))
    conv = np.zeros((1, w.shape[0], 8, 8))
    for i in range(8):
        for j in range(8):
            conv[0, :, i, j] = np.tensordot(w, xp[0, :, i:i + 3, j:j + 3], 3) + b
    normed = conv / np.sqrt((conv ** 2).sum(1, keepdims=True) + eps) * scale[None, :, None, None]
    out = np.zeros((1, w.shape[0], 4, 4))
    for i in range(4):
        for j in range(4):
            out[0, :, i, j] = normed[0, :, 2 * i:2 * i + 3, 2 * j:2 * j + 3].max(axis=(1, 2))
    return out


def fork_caffemodel(tmp_path, schema, pool_fields=None):
    """A binary caffemodel written with the fork's message classes, and its weights."""
    from google.protobuf import text_format
    netp = schema.NetParameter()
    text_format.Parse(net_text(), netp)
    rng = np.random.RandomState(0)
    w, b = rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)
    scale = rng.uniform(1, 3, 4)
    for layer in netp.layer:
        blobs = {"conv1": [w, b], "norm1": [scale]}.get(layer.name, [])
        for array in blobs:
            blob = layer.blobs.add()
            blob.shape.dim.extend(array.shape)
            blob.data.extend(array.astype(np.float32).ravel().tolist())
        if layer.name == "pool1" and pool_fields:
            for name, value in pool_fields.items():
                setattr(layer.pooling_param, name, value)
    path = tmp_path / "fork.caffemodel"
    path.write_bytes(netp.SerializeToString())
    f32 = [a.astype(np.float32) for a in (w, b, scale)]
    return path, f32


# -------------------------------------------------------------------- tests

def test_custom_type_from_fork_caffemodel_converts_to_torch(tmp_path, normalize):
    import torch
    path, (w, b, scale) = fork_caffemodel(tmp_path, load_schema(FORK))
    net, weights = converter.load_caffe(path, caffe_proto=FORK)
    assert [layer.type for layer in net.layers] == ["Input", "Convolution", "Normalize",
                                                     "Pooling"]
    module = converter.to_torch(net, weights)
    x = np.random.RandomState(1).standard_normal((1, 3, 8, 8)).astype(np.float32)
    got = module(torch.from_numpy(x)).detach().numpy()
    # float32 arithmetic of values ~1 through 27-term sums: measured error ~1e-6
    np.testing.assert_allclose(got, reference(x, w, b, scale, 1e-6), rtol=1e-5, atol=1e-5)


def test_cli_caffe2torch_with_caffe_proto_and_load_torch(tmp_path, normalize, capsys):
    """The written file carries the fork schema: load_torch needs only the registrations."""
    import torch
    path, (w, b, scale) = fork_caffemodel(tmp_path, load_schema(FORK))
    out = tmp_path / "out.safetensors"
    assert main(["caffe2torch", str(path), "--caffe-proto", str(FORK), "-o", str(out)]) == 0
    module, _ = converter.load_torch(out)
    x = np.random.RandomState(2).standard_normal((1, 3, 8, 8)).astype(np.float32)
    got = module(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(got, reference(x, w, b, scale, 1e-6), rtol=1e-5, atol=1e-5)


def test_type_without_a_backend_converter_is_unsupported_there(tmp_path, normalize):
    """Registered for the IR and torch only: MXNet names the layer and the back end."""
    pytest.importorskip("mxnet")
    from converter.backends.mxnet import to_mxnet
    path, _ = fork_caffemodel(tmp_path, load_schema(FORK))
    net, weights = converter.load_caffe(path, caffe_proto=FORK)
    with pytest.raises(UnsupportedLayerError, match="'norm1' \\(Normalize\\).* to MXNet|"
                                                    "to MXNet.*'norm1' \\(Normalize\\)"):
        to_mxnet(net, weights)


def test_register_refuses_a_builtin_type():
    with pytest.raises(ValueError, match="already registered"):
        catalogue.register("Pooling")(type("Again", (catalogue.LayerType,), {}))


def test_unknown_fork_types_listed_at_once(tmp_path):
    text = net_text().replace('name: "pool1" type: "Pooling"', 'name: "pool1" type: "PriorBox"')
    proto = write(tmp_path, "n.prototxt", text)
    with pytest.raises(UnsupportedLayerError) as exc:
        read_prototxt(proto, schema=load_schema(FORK))
    message = str(exc.value)
    assert "2 layer(s)" in message and "'norm1' (Normalize)" in message
    assert "'pool1' (PriorBox)" in message


@pytest.mark.parametrize("form", ["prototxt", "caffemodel"])
def test_fork_field_without_schema_is_one_clear_line(tmp_path, form):
    if form == "prototxt":
        path = write(tmp_path, "n.prototxt", net_text(norm="ReLU", norm_param="",
                                                       pool="ceil_mode: false"))
        call = lambda: read_prototxt(path)  # noqa: E731
    else:
        schema = load_schema(FORK)
        path, _ = fork_caffemodel(tmp_path, schema, {"ceil_mode": False})
        data = path.read_bytes()
        netp = schema.NetParameter.FromString(data)
        del netp.layer[2]  # BVLC types only: the unknown field is what must be reported
        netp.layer[2].bottom[0] = "conv1"
        path.write_bytes(netp.SerializeToString())
        call = lambda: converter.load_caffe(path)  # noqa: E731
    with pytest.raises(CaffeFormatError) as exc:
        call()
    message = str(exc.value)
    assert "\n" not in message and str(path) in message and "pool1" in message
    assert "pass --caffe-proto FORK.proto" in message
    assert ("ceil_mode" if form == "prototxt" else "pooling_param.#40") in message


def test_unknown_types_in_a_fork_caffemodel_without_schema_hint_at_it(tmp_path):
    path, _ = fork_caffemodel(tmp_path, load_schema(FORK))
    with pytest.raises(UnsupportedLayerError) as exc:
        converter.load_caffe(path)
    message = str(exc.value)
    assert "'norm1' (Normalize)" in message and "pass --caffe-proto FORK.proto" in message
    assert "\n" not in message
    with pytest.raises(UnsupportedLayerError) as exc:  # with the schema: no such hint
        converter.load_caffe(path, caffe_proto=FORK)
    assert "--caffe-proto" not in str(exc.value)


def test_fork_only_fields_of_known_types_warn_once(tmp_path, normalize):
    proto = write(tmp_path, "n.prototxt", net_text(conv="prefer_fast_path: true"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        net = read_prototxt(proto, schema=load_schema(FORK))
    lines = [str(w.message) for w in caught if "BVLC Caffe lacks" in str(w.message)]
    assert len(lines) == 1 and "'conv1' (Convolution): convolution_param.prefer_fast_path" \
        in lines[0]
    assert "norm_param" not in lines[0]  # the registered type's own field
    assert net.layer("norm1").params == NormalizeParam(False, False, 1e-6)


@pytest.mark.parametrize("fork", ["small", "full"])
def test_ceil_mode_is_refused_with_the_fork_schema(tmp_path, normalize, fork):
    schema = FORK if fork == "small" else full_fork(tmp_path)
    proto = write(tmp_path, "n.prototxt", net_text(pool="ceil_mode: false"))
    with pytest.raises(UnsupportedLayerError, match="pooling_param.ceil_mode .*round_mode"):
        read_prototxt(proto, schema=load_schema(schema))


def test_full_fork_schema_keeps_bvlc_semantics(tmp_path, normalize):
    """A whole fork file whose ceil_mode holds round_mode's number: unset, pooling keeps
    Caffe's ceil rounding (8 -> 4 with 3x3/2), and every BVLC field still reads."""
    proto = write(tmp_path, "n.prototxt", net_text())
    net = read_prototxt(proto, schema=load_schema(full_fork(tmp_path)))
    shapes = net.validate()
    assert net.layer("pool1").params.round_mode == "CEIL"
    assert tuple(shapes["pool1"]) == (1, 4, 4, 4)


def test_bvlc_file_reads_the_same_with_a_fork_schema(tmp_path):
    text = net_text(norm="ReLU", norm_param="")
    proto = write(tmp_path, "n.prototxt", text)
    assert read_prototxt(proto, schema=load_schema(FORK)).layers == read_prototxt(proto).layers


def test_schema_is_compiled_once(tmp_path):
    assert load_schema(FORK) is load_schema(FORK)
    assert load_schema(FORK).NetParameter is not NetParameter


BAD_PROTOS = {
    "empty": "",
    "binary": b"\x00\xff\xfe\x80garbage",
    "truncated": "syntax = \"proto2\";\nmessage LayerParameter {\n  optional string name = ",
    "proto3": 'syntax = "proto3";',
    "unknown type": "message LayerParameter { optional NoSuchParameter x_param = 300; }",
    "renumbered": "message LayerParameter { optional string name = 7; }",
    "retyped": "message LayerParameter { optional int32 name = 1; }",
    "enum changed": "message PoolingParameter { enum PoolMethod { MAX = 3; } }",
    "bad number": "message LayerParameter { optional int32 x = 99999999999; }",
    "bad default": "message LayerParameter { optional int32 x = 300 [default = abc]; }",
    "deep": "message A { " * 3000 + "}" * 3000,
    "oneof": "message LayerParameter { oneof x { int32 a = 300; } }",
}


@pytest.mark.parametrize("case", sorted(BAD_PROTOS))
def test_corrupt_fork_schema_is_one_line_exit_2(tmp_path, case, capsys):
    bad = tmp_path / "fork.proto"
    content = BAD_PROTOS[case]
    bad.write_bytes(content if isinstance(content, bytes) else content.encode())
    model = write(tmp_path, "m.caffemodel", "")
    code = main(["caffe2torch", str(model), "--caffe-proto", str(bad)])
    err = capsys.readouterr().err
    assert code == 2
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert re.search(re.escape(str(bad)), err)


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_mutated_fork_schema_is_read_or_refused_in_one_line(tmp_path_factory, data):
    """Byte edits of a fork schema: it compiles, or CaffeFormatError names it (no other error)."""
    text = bytearray(FORK.read_bytes())
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(text) - 1))
        op = data.draw(st.sampled_from(["flip", "cut", "dup"]))
        if op == "flip":
            text[at] = data.draw(st.integers(0, 255))
        elif op == "cut":
            del text[at:at + data.draw(st.integers(1, 40))]
        else:
            text[at:at] = text[at:at + data.draw(st.integers(1, 40))]
    path = tmp_path_factory.mktemp("fuzz") / "fork.proto"
    path.write_bytes(bytes(text))
    try:
        load_schema(path)
    except CaffeFormatError as exc:
        assert "\n" not in str(exc) and str(path) in str(exc)


def test_prototxt_and_caffemodel_both_read_with_the_fork_schema(tmp_path, normalize):
    path, _ = fork_caffemodel(tmp_path, load_schema(FORK))
    proto = write(tmp_path, "deploy.prototxt", net_text())
    net, weights = converter.load_caffe(path, proto, caffe_proto=FORK)
    assert net.layer("norm1").params == NormalizeParam(False, False, 1e-6)
    assert [a.shape for a in weights["norm1"]] == [(4,)]


@pytest.mark.parametrize("command", [["caffe2torch", "m"], ["caffe2mxnet", "m"],
                                     ["verify", "m", "--golden", "g.h5"]])
def test_every_reading_command_takes_caffe_proto(command):
    from converter.cli.convert import build_parser
    args = build_parser().parse_args(command + ["--caffe-proto", "fork.proto"])
    assert args.caffe_proto == "fork.proto"


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_mutated_fork_caffemodel_loads_or_is_refused(tmp_path_factory, normalize, data):
    """Byte edits of a fork-schema caffemodel read with the fork schema: a net, or one
    ConverterError naming the file (never another exception)."""
    from converter.errors import ConverterError
    folder = tmp_path_factory.mktemp("fuzz")
    path, _ = fork_caffemodel(folder, load_schema(FORK))
    blob = bytearray(path.read_bytes())
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(blob) - 1))
        if data.draw(st.booleans()):
            blob[at] = data.draw(st.integers(0, 255))
        else:
            del blob[at:at + data.draw(st.integers(1, 16))]
    path.write_bytes(bytes(blob))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            converter.load_caffe(path, caffe_proto=FORK)
        except ConverterError as exc:
            assert "\n" not in str(exc) and str(path) in str(exc)
