"""``-o model.py`` on the full-size Kaiming-layout ResNets of bench/make_models.py, and the
command line around it (outputs, flags, bad input, the preprocessing facts)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from codegen_support import isolated_site, run_isolated
from golden_support import GOLDEN_DIR, golden_caffemodel

torch = pytest.importorskip("torch")
pytest.importorskip("safetensors")

from safetensors import safe_open  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

from converter.cli.convert import main  # noqa: E402
from converter.codegen import generate  # noqa: E402
from converter.convert import caffe2torch  # noqa: E402
from converter.golden import read_golden  # noqa: E402
from converter.preprocess import Preprocess  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
#: Measured max |generated - CaffeNet| / max |CaffeNet| of fc1000 on these models (batch 2,
#: N(0, 64) input): 50: 5.1e-7, 101: 5.4e-7, 152: 5.7e-7 -- float32 rounding of two op
#: orders (nn.BatchNorm2d's x * a + b against Caffe's (x - m) / s * g + b). The bound is
#: four times the largest, rounded up to 1/2/5 x 10^k, as the parity tolerances are made.
BENCH_RTOL = 5e-6


def _make_models():
    spec = importlib.util.spec_from_file_location("make_models", ROOT / "bench" / "make_models.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("make_models", module)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
@pytest.mark.parametrize("depth", [50, 101, 152])
def test_bench_resnet_matches_the_converted_caffenet(depth, tmp_path):
    """The generated ResNet-50/101/152 (Kaiming's layout, real sizes), run without this
    package, gives the converted CaffeNet's logits."""
    from converter import load_caffe, to_torch
    model = _make_models().make(depth, tmp_path)
    py = caffe2torch(model, tmp_path / f"resnet{depth}.py")
    text = py.read_text()
    assert "class Bottleneck(nn.Module):" in text and "LAYERS = [3, " in text
    net, weights = load_caffe(model)
    reference = to_torch(net, weights, outputs="fc1000")
    del weights
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(depth)) * 64
    with torch.no_grad():
        expected = reference(x).numpy()
    del reference
    save_file({"data": x}, str(tmp_path / "in.safetensors"))
    job = {"module": py.stem, "py": str(py), "weights": str(py.with_suffix(".safetensors")),
           "inputs": str(tmp_path / "in.safetensors"), "out": str(tmp_path / "out.pt"),
           "logits": "prob", "logits_name": "fc1000"}
    run_isolated(isolated_site(tmp_path / "site"), [job], tmp_path)
    got = torch.load(str(tmp_path / "out.pt"), weights_only=True)["fc1000"].numpy()
    err = np.abs(got.astype(np.float64) - expected).max() / np.abs(expected).max()
    assert err <= BENCH_RTOL, err


@pytest.fixture
def cifar_model(tmp_path):
    return golden_caffemodel(read_golden(GOLDEN_DIR / "cifar_n3_B.h5"), tmp_path)


def test_cli_writes_module_and_weights(cifar_model, tmp_path, capsys):
    out = tmp_path / "cifar20.py"
    assert main(["caffe2torch", str(cifar_model), "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert f"wrote {out}" in err and f"wrote {out.with_suffix('.safetensors')}" in err
    with safe_open(str(out.with_suffix(".safetensors")), "np") as handle:
        meta = handle.metadata()
    assert json.loads(meta["preprocess"])["channel_order"] == "BGR"
    assert meta["style"] == "resnet" and json.loads(meta["outputs"]) == ["prob"]
    assert "PREPROCESS = {" in out.read_text()


@pytest.mark.parametrize("args, message", [
    (["--fold-bn"], "--fold-bn does not apply to a .py output"),
    (["-o", "1st-try.py"], "must be a Python identifier"),
])
def test_cli_refuses_with_one_line_and_no_files(cifar_model, tmp_path, capsys, args, message):
    argv = ["caffe2torch", str(cifar_model)] + args
    if "-o" not in args:
        argv += ["-o", str(tmp_path / "net.py")]
    else:
        argv[argv.index("-o") + 1] = str(tmp_path / args[1])
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [cifar_model.name]


def test_outputs_choose_what_forward_returns(cifar_model, tmp_path):
    from converter import load_caffe, to_torch
    py = caffe2torch(cifar_model, tmp_path / "features.py",
                     _options(outputs=["global_pool"]))
    spec = importlib.util.spec_from_file_location("features", py)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.Net.caffe_outputs == ("global_pool",) and "self.fc10" not in py.read_text()
    generated = module.Net.load(str(py.with_suffix(".safetensors")))
    net, weights = load_caffe(cifar_model)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(generated(x), to_torch(net, weights, outputs="global_pool")(x),
                                   rtol=2e-5, atol=1e-6)


def _options(**kw):
    from converter.convert import Options
    return Options(**kw)


def test_mean_image_is_a_buffer_of_the_module(cifar_model):
    from converter import load_caffe
    net, weights = load_caffe(cifar_model)
    mean = np.arange(3 * 32 * 32, dtype=np.float32).reshape(3, 32, 32)
    gen = generate(net, weights, Preprocess(mean_image=mean), stem="m")
    namespace = {}
    exec(compile(gen.source, "m.py", "exec"), namespace)
    module = namespace["Net"]()
    module.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in
                            gen.tensors.items()})
    np.testing.assert_array_equal(module.mean_image.numpy(), mean)
    assert "Net.mean_image" in gen.source


#: Types the torch back end runs but the code generator does not write, each with why (a
#: generated file then stops with a clear error). Empty since the recurrent types (RNN,
#: LSTM, LSTMUnit) got theirs; a type added to the back end without one must be listed.
CODEGEN_MISSING: dict[str, str] = {}


def test_every_torch_backend_layer_type_has_a_generator():
    """Every torch back-end type has a generator, except those listed (with a reason) in
    CODEGEN_MISSING; a listed type that gains a generator must leave the table."""
    from converter.backends.torch.registry import supported_types as torch_types
    from converter.codegen.ops import supported_types
    missing = set(torch_types()) - set(supported_types())
    assert missing == set(CODEGEN_MISSING)
    assert {"RNN", "LSTM", "LSTMUnit"} <= set(supported_types())


def test_every_golden_case_is_generated():
    """No golden case is skipped by tests/test_codegen.py for a type without a generator."""
    from golden_support import GOLDEN_FILES, codegen_missing
    missing = {path.stem: codegen_missing(path) for path in GOLDEN_FILES}
    assert not {stem: types for stem, types in missing.items() if types}
    assert "layers_recurrent" in missing


@pytest.mark.parametrize("kwargs, style", [
    (dict(n=2, shortcut="C"), "BasicBlock"),
    (dict(n=2, shortcut="B", preact=True), "PreActBlock"),
    (dict(n=2, shortcut="A", preact=True), "PreActBlock"),
    (dict(depth=50, preact=True), "PreActBottleneck"),
    (dict(depth=34), "BasicBlock"),
    (dict(depth=50, shortcut="C"), "Bottleneck"),
    (dict(n=2, variant="mxnet"), None),
])
def test_builder_variants_match_the_caffenet(kwargs, style):
    """Every builder layout generates code (block classes where it is a ResNet the matcher
    knows, straight-line otherwise) that computes what the converted CaffeNet computes."""
    from converter import to_torch
    from converter.builders import build
    net = build(batch=2, **kwargs)
    weights = _make_models().make_weights(net)
    for layer in net.layers:  # option A's frozen subsampling keeps Caffe's constant-1 filler
        if layer.param_specs and layer.param_specs[0].lr_mult == 0 and layer.type == \
                "Convolution":
            weights[layer.name] = [np.ones_like(weights[layer.name][0])]
    gen = generate(net, weights, Preprocess(), stem="m")
    assert (f"class {style}(nn.Module):" in gen.source) if style else gen.style == "straight"
    namespace = {}
    exec(compile(gen.source, "m.py", "exec"), namespace)
    module = namespace["Net"]()
    module.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in gen.tensors.items()})
    module.eval()
    x = torch.randn(*net.input_blobs()["data"], generator=torch.Generator().manual_seed(1))
    reference = to_torch(net, weights)
    with torch.no_grad():
        got, expected = module(x).numpy(), reference(x).numpy()
    err = np.abs(got.astype(np.float64) - expected).max() / np.abs(expected).max()
    assert err <= BENCH_RTOL, err
