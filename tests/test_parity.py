"""Blob-by-blob parity of the converted nets with golden activations from real BVLC Caffe.

Every golden file (golden/*.h5) is converted through the caffemodel reader and checked by
``resnet-convert verify`` itself, with each back end: every blob Caffe produced is compared in
Caffe's order against the tolerances stored in the golden file (per channel, four times how far
Caffe's float32 output is from an exact float64 evaluation, tools/golden_tolerance.py), and the
verdict must be PASS.
"""

from __future__ import annotations


import pytest

from golden_support import GOLDEN_DIR, GOLDEN_FILES, golden_caffemodel, golden_ids, has_cuda
from golden_support import load_golden_case, mxnet_refusals

from converter.cli.convert import main as convert_main
from converter.golden import read_golden
from converter.verify import compare, format_report, run_torch


def assert_parity(golden, computed, framework):
    """``compare`` with the golden file's own tolerances must pass every blob."""
    report = compare(golden, computed, framework)
    assert report.per_channel, f"{golden.path} has no per-channel tolerances"
    missing = [r.name for r in report.rows if r.kind == "missing"]
    assert not missing, f"blobs Caffe computed but the converted net lacks: {missing}"
    assert report.compared > 0, "nothing compared"
    first = report.first_failure
    assert first is None, (f"{golden.path}: first diverging blob: {first.name} "
                           f"(max abs err {first.max_abs:.3e}, rel {first.rel:.3e})\n"
                           + format_report(report))
    return report


def _inputs(golden, net):
    return {n: golden.inputs[n] for n in net.input_blobs()}


def run_verify(path, tmp_path, capsys, *extra):
    """``resnet-convert verify MODEL --golden PATH ...``: (exit status, printed report)."""
    model = golden_caffemodel(read_golden(path), tmp_path)
    status = convert_main(["verify", str(model), "--golden", str(path), *extra])
    return status, capsys.readouterr().out


@pytest.mark.parametrize("path", GOLDEN_FILES, ids=golden_ids())
def test_verify_passes_torch_cpu(path, tmp_path, capsys):
    status, out = run_verify(path, tmp_path, capsys)
    assert status == 0 and "PASS" in out.splitlines()[-1], out
    assert "per-channel tolerances" in out.splitlines()[-1]


@pytest.mark.cuda
@pytest.mark.skipif(not has_cuda(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("path", GOLDEN_FILES, ids=golden_ids())
def test_torch_cuda_matches_caffe(path, tmp_path):
    import torch
    # TF32 would trade ~1e-3 relative precision for speed; the comparison needs full fp32.
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    golden, net, weights = load_golden_case(path, tmp_path)
    assert_parity(golden, run_torch(net, weights, _inputs(golden, net), device="cuda"), "torch")


@pytest.mark.mxnet
@pytest.mark.parametrize("path", GOLDEN_FILES, ids=golden_ids())
def test_verify_passes_mxnet_cpu(path, tmp_path, capsys, require_mxnet):
    """PASS; or, for a type MXNet cannot express, exit 2 with one line naming the layer, its
    type, the back end and why."""
    refused = mxnet_refusals(path)
    if refused:
        model = golden_caffemodel(read_golden(path), tmp_path)
        status = convert_main(["verify", str(model), "--golden", str(path),
                               "--framework", "mxnet"])
        err = capsys.readouterr().err
        assert status == 2 and len(err.strip().splitlines()) == 1, err
        for ltype, why in refused.items():
            assert f"({ltype})" in err and "MXNet" in err and why in err, err
        return
    status, out = run_verify(path, tmp_path, capsys, "--framework", "mxnet")
    assert status == 0 and "PASS" in out.splitlines()[-1], out


def test_every_golden_file_has_tolerances():
    assert GOLDEN_FILES, "no golden files"
    for path in GOLDEN_FILES:
        golden = read_golden(path)
        assert set(golden.tolerances) == set(golden.signatures), path


def _as_input_fields(net):
    """The same net with its Input layers turned into top-level ``input`` fields (V1 files
    have no Input layer type)."""
    net = net.copy()
    for layer in [l for l in net.layers if l.type == "Input"]:
        net.inputs.update(zip(layer.tops, (tuple(s) for s in layer.params.shape)))
        net.layers.remove(layer)
    net.input_style = "input_shape"
    return net


@pytest.mark.parametrize("case", ["layers_pooling", "layers_innerproduct_softmax",
                                  "layers_activations"])
@pytest.mark.parametrize("blob_format", ["v1", "v1+legacy+double"])
def test_v1_format_file_matches_caffe(case, blob_format, tmp_path):
    """A legacy V1 ``layers`` caffemodel (old enum types; legacy 4-D / double blobs) of a
    real-Caffe model converts to the same activations as Caffe computed."""
    from converter.caffe.loader import load_caffe
    from converter.caffe.writer import net_to_proto
    golden, net, weights = load_golden_case(GOLDEN_DIR / f"{case}.h5", tmp_path)
    legacy = blob_format != "v1"
    netp = net_to_proto(_as_input_fields(net), weights, v1=True, legacy_blobs=legacy,
                        double=legacy)
    assert len(netp.layers) and not len(netp.layer)
    path = tmp_path / "v1.caffemodel"
    path.write_bytes(netp.SerializeToString())
    v1_net, v1_weights = load_caffe(path)
    assert_parity(golden, run_torch(v1_net, v1_weights, _inputs(golden, v1_net)), "torch")
