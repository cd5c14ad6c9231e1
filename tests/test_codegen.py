"""``resnet-convert caffe2torch M.caffemodel -o model.py``: the generated standalone module.

Every golden case is generated once (module fixture) and run by :mod:`codegen_support` in an
interpreter where only torch and safetensors can be imported (and ``import converter``
fails); its eval outputs must match real Caffe's within the golden file's own per-channel
tolerances (four times Caffe's distance from a float64 evaluation), as the parity tests'.
The files must pass ruff and py_compile, export with torch.export and ONNX (whose outputs
must match Caffe's the same way), and train.
"""

from __future__ import annotations

import importlib.util
import py_compile
import subprocess
from pathlib import Path

import numpy as np
import pytest

from codegen_support import isolated_site, ruff_binary, run_isolated
from golden_support import GOLDEN_DIR, GOLDEN_FILES, codegen_missing, golden_caffemodel, golden_ids

torch = pytest.importorskip("torch")
pytest.importorskip("safetensors")

from safetensors.torch import load_file, save_file  # noqa: E402

from converter.convert import caffe2torch  # noqa: E402
from converter.golden import read_golden  # noqa: E402
from converter.verify import compare, format_report  # noqa: E402

#: Golden cases that come out torchvision-style, with their block class and depth table.
RESNETS = {"kaiming_resnet50": ("Bottleneck", [3, 4, 6, 3]),
           "kaiming_resnet101": ("Bottleneck", [3, 4, 23, 3]),
           "kaiming_resnet152": ("Bottleneck", [3, 8, 36, 3]),
           "imagenet_resnet18": ("BasicBlock", [2, 2, 2, 2]),
           "cifar_n3_A": ("BasicBlock", [3, 3, 3]), "cifar_n3_B": ("BasicBlock", [3, 3, 3]),
           "cifar_n9_A": ("BasicBlock", [9, 9, 9]), "cifar_n9_B": ("BasicBlock", [9, 9, 9]),
           "cifar_preact_n3_A": ("PreActBlock", [3, 3, 3])}


def import_file(path: Path):
    """Import a generated file by path (in this process)."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """stem -> (golden, model.py path, isolated outputs path), every golden case generated
    through the caffe2torch job and run once in the isolated interpreter."""
    work = tmp_path_factory.mktemp("codegen")
    cases, jobs = {}, []
    for path in GOLDEN_FILES:
        golden = read_golden(path)
        if golden.attrs.get("unsupported_reason") or codegen_missing(path):
            continue
        model = golden_caffemodel(golden, work)
        py = caffe2torch(model, work / f"{path.stem}.py")
        inputs, out = work / f"{path.stem}.inputs.safetensors", work / f"{path.stem}.out"
        save_file({k: torch.from_numpy(np.ascontiguousarray(v))
                   for k, v in golden.inputs.items()}, str(inputs))
        jobs.append({"module": path.stem, "py": str(py), "weights": str(
            py.with_suffix(".safetensors")), "inputs": str(inputs), "out": str(out)})
        cases[path.stem] = (golden, py, out)
    run_isolated(isolated_site(work / "site"), jobs, work)
    return cases


def _case(generated, stem):
    if stem not in generated:
        pytest.skip(f"{stem}: the golden case is marked unsupported, or holds types with no "
                    "code generator yet")
    return generated[stem]


@pytest.mark.parametrize("stem", golden_ids())
def test_generated_module_matches_caffe(generated, stem):
    golden, _, out = _case(generated, stem)
    computed = {k: v.numpy() for k, v in torch.load(str(out), weights_only=True).items()}
    assert_matches_caffe(golden, computed)


def assert_matches_caffe(golden, computed):
    """Every blob of ``computed`` within the golden file's per-channel tolerances."""
    report = compare(golden, computed, "torch-code")
    assert report.per_channel
    # The module returns the net's outputs; the intermediate blobs are the parity tests'.
    report.rows = [r for r in report.rows if r.kind in ("full", "signature")]
    assert report.compared == len(computed) > 0
    assert report.first_failure is None, format_report(report)


@pytest.mark.parametrize("stem", golden_ids())
def test_generated_file_is_clean(generated, stem):
    _, py, _ = _case(generated, stem)
    py_compile.compile(str(py), doraise=True)
    ruff = ruff_binary()
    if ruff is None:
        pytest.skip("ruff is not installed")
    result = subprocess.run([str(ruff), "check", "--isolated", str(py)], capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    text = py.read_text()
    imports = [line for line in text.splitlines() if line.startswith(("import ", "from "))]
    assert all(" torch" in line for line in imports), imports
    assert "converter" not in text.replace("converted", "")


@pytest.mark.parametrize("stem", golden_ids())
def test_layout(generated, stem):
    _, py, _ = _case(generated, stem)
    text = py.read_text()
    if stem not in RESNETS:
        assert "self.layer1" not in text and "class Net(nn.Module)" in text
        return
    block, depths = RESNETS[stem]
    assert f"class {block}(nn.Module):" in text
    assert f"LAYERS = {depths!r}" in text and "self.layer1 = self._make_layer(" in text
    assert len(text.splitlines()) < 200  # blocks and a table, not one line per layer


def _example(golden, module):
    return tuple(torch.from_numpy(golden.inputs[n]) for n in module.Net.caffe_inputs)


@pytest.mark.parametrize("stem", golden_ids())
def test_torch_export_and_onnx(generated, stem, tmp_path):
    golden, py, _ = _case(generated, stem)
    module = import_file(py)
    net = module.Net.load(str(py.with_suffix(".safetensors")))
    args = _example(golden, module)
    names = module.Net.caffe_outputs
    exported = torch.export.export(net, args).module()
    got = exported(*args)
    got = got if isinstance(got, tuple) else (got,)
    assert_matches_caffe(golden, {n: a.detach().numpy() for n, a in zip(names, got)})
    ort = pytest.importorskip("onnxruntime")
    onnx_path = str(tmp_path / f"{stem}.onnx")
    torch.onnx.export(net, args, onnx_path, dynamo=False,
                      input_names=list(module.Net.caffe_inputs))
    session = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    # An input read only for its shape (Crop's reference) is folded away by the exporter.
    wanted = {i.name for i in session.get_inputs()}
    got = session.run(None, {n: a.numpy() for n, a in zip(module.Net.caffe_inputs, args)
                             if n in wanted})
    assert_matches_caffe(golden, dict(zip(names, got)))


def train_steps(net, args, steps=3, lr=0.05):
    """A few SGD steps on a fixed random batch; returns the losses and the running means
    before and after."""
    torch.manual_seed(0)
    softmax = [name for name, m in net.named_children() if isinstance(m, torch.nn.Softmax)]
    for name in softmax:  # train on the logits, as the file's docstring says
        setattr(net, name, torch.nn.Identity())
    net.train()
    means = {k: v.clone() for k, v in net.state_dict().items() if k.endswith("running_mean")}
    opt = torch.optim.SGD(net.parameters(), lr=lr)
    targets, losses = None, []
    for _ in range(steps):
        outs = net(*args)
        outs = outs if isinstance(outs, tuple) else (outs,)
        if targets is None:
            targets = [torch.randn_like(o) for o in outs]
        loss = sum(torch.nn.functional.mse_loss(o, t) for o, t in zip(outs, targets))
        opt.zero_grad()
        loss.backward()
        missing = [n for n, p in net.named_parameters() if p.grad is None]
        assert not missing, f"no gradient reaches {missing}"
        opt.step()
        losses.append(float(loss))
    after = {k: v for k, v in net.state_dict().items() if k in means}
    return losses, means, after


@pytest.mark.parametrize("stem", ["layers_resblock", "cifar_n3_A", "cifar_preact_n3_A",
                                  "cifar_mxnet_n3", "kaiming_resnet50", "layers_batchnorm"])
def test_training_lowers_the_loss(generated, stem):
    golden, py, _ = _case(generated, stem)
    module = import_file(py)
    net = module.Net.load(str(py.with_suffix(".safetensors")))
    args = tuple(torch.randn(4, *a.shape[1:]) * a.std() for a in _example(golden, module))
    losses, before, after = train_steps(net, args)
    assert losses[-1] < losses[0], losses
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert changed and len(changed) == len(before), "BatchNorm running stats did not update"


def test_generated_state_dict_is_the_modules_own(generated):
    _, py, _ = _case(generated, "kaiming_resnet50")
    module = import_file(py)
    stored = load_file(str(py.with_suffix(".safetensors")))
    assert set(stored) == set(module.Net().state_dict())
    assert "layer1.0.downsample.0.weight" in stored and "layer4.2.bn3.running_var" in stored


def test_batchnorm_statistics_divide_by_caffe_factor(generated):
    """running stats = Caffe's stored mean/var times 1/factor in float32 (factor 0: zeros),
    for the factors 999.982, 1, 0 and 0.5 of layers_batchnorm."""
    golden, py, _ = _case(generated, "layers_batchnorm")
    stored = load_file(str(py.with_suffix(".safetensors")))
    checked = 0
    for layer, blobs in golden.params.items():
        key = f"{layer}.running_mean"
        if set(blobs) != {0, 1, 2} or key not in stored:
            continue
        f = np.float32(np.asarray(blobs[2]).reshape(-1)[0])
        scale = np.float32(0) if f == 0 else np.float32(1) / f
        expected = np.asarray(blobs[0], np.float32).reshape(-1) * scale
        np.testing.assert_array_equal(stored[key].numpy(), expected)
        checked += 1
    assert checked >= 3


def test_golden_dir_is_used():
    assert GOLDEN_DIR.is_dir() and GOLDEN_FILES
