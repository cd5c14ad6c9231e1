"""Blob-by-blob parity of the converted nets with golden activations from real BVLC Caffe.

Every golden file (golden/*.h5) is converted through the caffemodel reader and run by each back
end; every blob Caffe produced is compared in Caffe's order, and a failure names the first
diverging blob. Tolerances are in tests/parity_tolerances.json, per blob: four times that
blob's float32 floor measured by ``tools/parity_floor.py`` (the larger of our float64 run's and
our float32 run's error against Caffe's float32 output; the float64 one is Caffe's own rounding),
rounded up to 1/2/5 x 10^k, at least 1e-6. They track each net's real conditioning.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from golden_support import GOLDEN_DIR, GOLDEN_FILES, golden_ids, has_cuda, load_golden_case

from converter.verify import compare, format_report, run_mxnet, run_torch

TOLERANCES = json.loads((Path(__file__).parent / "parity_tolerances.json").read_text())


def tolerance(golden):
    """Keyword arguments of ``compare`` for a case: atol, the case rtol and the per-blob
    rtols (each four times that blob's measured floor)."""
    entry = TOLERANCES.get(Path(golden.path).stem)
    assert entry is not None, f"no measured tolerance for {golden.path}: run tools/parity_floor.py"
    return {"atol": entry["atol"], "rtol": entry["rtol"], "blob_rtol": entry["blob_rtol"]}


def assert_parity(golden, computed, framework):
    report = compare(golden, computed, framework, **tolerance(golden))
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


@pytest.mark.parametrize("path", GOLDEN_FILES, ids=golden_ids())
def test_torch_cpu_matches_caffe(path, tmp_path):
    golden, net, weights = load_golden_case(path, tmp_path)
    assert_parity(golden, run_torch(net, weights, _inputs(golden, net)), "torch")


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
def test_mxnet_cpu_matches_caffe(path, tmp_path):
    pytest.importorskip("mxnet")
    golden, net, weights = load_golden_case(path, tmp_path)
    assert_parity(golden, run_mxnet(net, weights, _inputs(golden, net)), "mxnet")


def test_every_golden_file_has_a_tolerance():
    assert GOLDEN_FILES, "no golden files"
    assert sorted(TOLERANCES) == sorted(p.stem for p in GOLDEN_FILES)


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
