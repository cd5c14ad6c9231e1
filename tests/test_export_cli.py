"""``resnet-convert torch2caffe`` / ``mxnet2caffe`` end to end, and the round trip
Kaiming-layout caffemodel -> ``caffe2torch`` (.pt2) -> ``torch2caffe`` (bit-identical blobs,
identical outputs in real Caffe)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from optional import need

torch = need("torch")
from torch import nn  # noqa: E402

from caffe_support import caffe_forward, make_golden, require_caffe
import torch_models as M

from converter import load_caffe
from converter.cli.convert import main

ROOT = Path(__file__).resolve().parents[1]


def run(argv, capsys):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def save_program(model, path, example, dynamic_batch=False):
    shapes = ({0: torch.export.Dim("batch", min=1, max=64)},) if dynamic_batch else None
    program = torch.export.export(model.eval(), (example,), dynamic_shapes=shapes)
    torch.export.save(program, str(path))
    return path


@pytest.fixture(scope="module")
def resnet_pt2(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pt2")
    model = M.randomise(M.ResNet(M.BasicBlock, [1, 1, 1, 1]))
    return save_program(model, folder / "resnet.pt2", torch.zeros(2, 3, 32, 32),
                        dynamic_batch=True), model


def test_torch2caffe_dynamic_batch_defaults_to_one(resnet_pt2, tmp_path, capsys):
    path, _ = resnet_pt2
    code, _, err = run(["torch2caffe", path, "-o", tmp_path / "r", "--name", "tiny"], capsys)
    assert code == 0, err
    net, weights = load_caffe(tmp_path / "r.caffemodel")
    assert net.name == "tiny" and net.input_blobs() == {"x": (1, 3, 32, 32)}
    text = (tmp_path / "r.prototxt").read_text()
    assert 'type: "Input"' in text and 'name: "layer1.0.conv1"' in text
    assert set(weights) >= {"conv1", "bn1", "bn1.scale", "fc"}


def test_torch2caffe_input_shape(resnet_pt2, tmp_path, capsys):
    path, _ = resnet_pt2
    code, _, err = run(["torch2caffe", path, "-o", tmp_path / "r", "--input-shape",
                        "4,3,32,32"], capsys)
    assert code == 0, err
    net, _ = load_caffe(tmp_path / "r.caffemodel")
    assert net.input_blobs() == {"x": (4, 3, 32, 32)}
    # H and W were static when exported: another size is refused in one line.
    code, _, err = run(["torch2caffe", path, "-o", tmp_path / "s", "--input-shape",
                        "4,3,64,64"], capsys)
    assert code == 2 and "only its dynamic dimensions" in err and err.count("\n") == 1
    assert not (tmp_path / "s.prototxt").exists()


class Bad(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 2, 1)
        self.act = nn.Hardswish()
        self.up = nn.ConvTranspose2d(2, 2, 3, 2, output_padding=1)

    def forward(self, x):
        return torch.nn.functional.gelu(self.up(self.act(self.conv(x))))


def test_torch2caffe_refuses_all_unsupported_ops_and_writes_nothing(tmp_path, capsys):
    path = save_program(Bad(), tmp_path / "bad.pt2", torch.zeros(1, 2, 4, 4))
    code, _, err = run(["torch2caffe", path, "-o", tmp_path / "out"], capsys)
    assert code == 2
    assert err.count("\n") == 1 and "3 unsupported ops" in err, err
    for piece in ("aten.hardswish", "at act", "output_padding", "at up", "aten.gelu"):
        assert piece in err, (piece, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.pt2"]


def test_torch2caffe_bad_archive(tmp_path, capsys):
    (tmp_path / "junk.pt2").write_bytes(b"not a zip")
    code, _, err = run(["torch2caffe", tmp_path / "junk.pt2", "-o", tmp_path / "o"], capsys)
    assert code == 2 and "junk.pt2" in err and "torch.export archive" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["junk.pt2"]


@pytest.mark.mxnet
def test_mxnet2caffe_checkpoint(tmp_path, capsys):
    mx = need("mxnet")
    data = mx.sym.var("data")
    conv = mx.sym.Convolution(data, num_filter=4, kernel=(3, 3), pad=(1, 1), name="conv0")
    bn = mx.sym.BatchNorm(conv, name="bn0")
    pool = mx.sym.Pooling(mx.sym.Activation(bn, act_type="relu", name="relu0"),
                          global_pool=True, kernel=(1, 1), pool_type="avg", name="pool0")
    out = mx.sym.FullyConnected(pool, num_hidden=3, name="fc0")
    out = mx.sym.SoftmaxOutput(out, name="softmax")
    mod = mx.mod.Module(out, data_names=["data"], label_names=["softmax_label"])
    mod.bind(data_shapes=[("data", (1, 2, 8, 8))], for_training=False)
    mod.init_params(mx.init.Normal(0.5))
    mod.save_checkpoint(str(tmp_path / "m"), 3)
    code, _, err = run(["mxnet2caffe", tmp_path / "m", "-o", tmp_path / "c", "--input-shape",
                        "1,2,8,8"], capsys)
    assert code == 0, err
    net, weights = load_caffe(tmp_path / "c.caffemodel")
    assert [layer.name for layer in net.layers] == ["data", "conv0", "bn0", "bn0_scale",
                                                    "relu0", "pool0", "fc0", "softmax"]
    assert weights["bn0"][2].tolist() == [1.0]
    code, _, err = run(["mxnet2caffe", tmp_path / "m", "--epoch", "9", "-o", tmp_path / "d",
                        "--input-shape", "1,2,8,8"], capsys)
    assert code == 2 and "m-0009.params" in err and not (tmp_path / "d.prototxt").exists()


@pytest.mark.mxnet
def test_mxnet2caffe_guesses_the_cifar_input_size(tmp_path, capsys):
    """The issue's command line, no --input-shape: the CIFAR ResNet's FC after its fixed 8x8
    pool only fits 32x32, which is found and reported."""
    mx = need("mxnet")
    from test_frontend_mxnet import cifar_params, cifar_symbol
    symbol = cifar_symbol(1)
    args, aux = cifar_params(symbol, (1, 3, 32, 32), seed=1)
    mx.model.save_checkpoint(str(tmp_path / "cifar"), 2, symbol, args, aux)
    code, _, err = run(["mxnet2caffe", tmp_path / "cifar", "-o", tmp_path / "c"], capsys)
    assert code == 0, err
    assert "warning: no --input-shape: using 1,3,32,32" in err
    net, _ = load_caffe(tmp_path / "c.caffemodel")
    assert net.input_blobs() == {"data": (1, 3, 32, 32)}


@pytest.mark.caffe
@pytest.mark.slow
def test_kaiming_round_trip_is_bit_identical(tmp_path, capsys):
    """bench/make_models.py's ResNet-50 (Kaiming's layout, BatchNorm factor 999.982) ->
    caffe2torch .pt2 -> torch2caffe: every weight blob bit-identical, Caffe's outputs equal."""
    require_caffe()
    sys.path.insert(0, str(ROOT / "bench"))
    from make_models import make
    source = make(50, tmp_path)
    code, _, err = run(["caffe2torch", source, "-o", tmp_path / "r50.pt2"], capsys)
    assert code == 0, err
    code, _, err = run(["torch2caffe", tmp_path / "r50.pt2", "-o", tmp_path / "back"], capsys)
    assert code == 0, err
    net, weights = load_caffe(source)
    back_net, back = load_caffe(tmp_path / "back.caffemodel")
    assert set(back) == set(weights)
    for name, blobs in weights.items():
        assert len(back[name]) == len(blobs), name
        for a, b in zip(blobs, back[name]):
            assert np.asarray(a).tobytes() == np.asarray(b).tobytes(), name
    from converter.emit import emit_prototxt
    (tmp_path / "source.prototxt").write_text(emit_prototxt(net))
    x = np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32)
    ours = caffe_forward(tmp_path / "back.prototxt", tmp_path / "back.caffemodel",
                         {back_net.layers[0].tops[0]: x}, all_blobs=False)
    theirs = caffe_forward(tmp_path / "source.prototxt", source, {"data": x},
                           all_blobs=False)
    assert ours["prob"].tobytes() == theirs["prob"].tobytes()


def test_frontends_import_no_framework_until_used():
    """Only frontends.torch / frontends.mxnet import their framework: the package, the
    builder, the pooling rules, the writer, the jobs and the CLI parser import neither."""
    import subprocess
    code = ("import sys\n"
            "import converter, converter.frontends, converter.export\n"
            "from converter.frontends import builder, pooling, save\n"
            "from converter.cli.convert import build_parser\n"
            "build_parser().parse_args(['torch2caffe', 'm.pt2', '-o', 'x'])\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'mxnet'))\n"
            "assert not bad, bad\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=ROOT)
    assert result.returncode == 0, result.stderr


class _Decoder(nn.Module):
    """A small net with the layer types issue 14 brought: Deconvolution, bilinear upsampling
    (Slice + Concat + Deconvolution), ELU, Swish, PReLU."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, 2, 1)
        self.bn = nn.BatchNorm2d(8)
        self.act = nn.ELU(0.5)
        self.up = nn.ConvTranspose2d(8, 4, 4, 2, 1, groups=2)
        self.silu = nn.SiLU()
        self.resize = nn.Upsample(scale_factor=2, mode="bilinear")
        self.prelu = nn.PReLU(4)

    def forward(self, x):
        return self.prelu(self.resize(self.silu(self.up(self.act(self.bn(self.conv(x)))))))


@pytest.mark.caffe
@pytest.mark.parametrize("framework", ["torch", "mxnet"])
@pytest.mark.parametrize("net", ["resnet", "decoder"])
def test_verify_passes_on_an_exported_caffemodel(framework, net, tmp_path, capsys):
    """Issue 15 item 4: export with torch2caffe, record a golden of the exported pair with
    real Caffe (its own weights), then ``resnet-convert verify`` the caffemodel: PASS."""
    require_caffe()
    if framework == "mxnet":
        need("mxnet")
    model = M.randomise(M.ResNet(M.BasicBlock, [1, 1, 1, 1]) if net == "resnet" else
                        _Decoder(), seed=6)
    path = save_program(model, tmp_path / "m.pt2", torch.zeros(2, 3, 32, 32))
    code, _, err = run(["torch2caffe", path, "-o", tmp_path / "m"], capsys)
    assert code == 0, err
    golden = make_golden(tmp_path / "m.prototxt", tmp_path / "m.caffemodel", tmp_path / "g",
                         "exported")
    code, out, err = run(["verify", tmp_path / "m.caffemodel", "--golden", golden,
                          "--framework", framework], capsys)
    assert code == 0, out + err
    assert out.splitlines()[-1].startswith("PASS")


class _Clamps(nn.Module):
    def forward(self, x):
        return torch.clamp(nn.functional.relu6(x * 4.0) * 0.5 - 1.0, -0.5, 0.75)


@pytest.mark.caffe
@pytest.mark.parametrize("native", [False, True])
def test_torch2caffe_native_clip_is_bit_identical_in_caffe(native, tmp_path, capsys):
    """--native-clip writes Caffe's Clip layer (Caffe from 2018 on); the default emulation
    runs in BVLC Caffe 1.0. Both equal torch bit for bit (inputs scaled by powers of two)."""
    require_caffe()
    x = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(9))
    path = save_program(_Clamps(), tmp_path / "c.pt2", x)
    code, _, err = run(["torch2caffe", path, "-o", tmp_path / "c"] +
                       (["--native-clip"] if native else []), capsys)
    assert code == 0, err
    net, _ = load_caffe(tmp_path / "c.caffemodel")
    types = [layer.type for layer in net.layers]
    assert (types.count("Clip") == 2) == native and ("Eltwise" in types) != native
    out = net.output_blobs()[0]
    blobs = caffe_forward(tmp_path / "c.prototxt", tmp_path / "c.caffemodel", {"x": x.numpy()})
    ref = _Clamps()(x).numpy()
    assert 0 < (ref == 0.75).mean() < 1 and 0 < (ref == -0.5).mean() < 1
    assert blobs[out].tobytes() == ref.tobytes()
