"""A user's own model against real Caffe: ``verify --caffe``, ``golden``, ``--plot``, and the
``info`` totals against Caffe's own parameter count.

Every model runs once in real BVLC Caffe (the chroot from tools/caffe-env.sh; needs root;
skipped without it unless RESNET_CONVERT_REQUIRE_CAFFE=1): a Kaiming-layout ResNet-152
(bench/make_models.py), the BVLC GoogLeNet (tools/googlenet.py) and every golden model. A
wrong weight planted in our copy of a late layer must be named as the first divergence.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path

import numpy as np
import pytest

import converter
from converter.builders import build
from converter.caffe.writer import write_caffemodel
from converter.cli.convert import main
from converter.netinfo import describe, load_net
from converter.reference.caffe_runner import chroot_ready, run_caffe
from converter.reference.compare import caffe_golden, make_inputs
from converter.verify import compare, run_torch
from golden_support import GOLDEN_FILES, ROOT, golden_caffemodel
from netutil import random_weights

pytestmark = pytest.mark.caffe


def require_caffe():
    if not (chroot_ready() and os.geteuid() == 0):
        if os.environ.get("RESNET_CONVERT_REQUIRE_CAFFE") == "1":
            pytest.fail("real Caffe required but the chroot is not ready")
        pytest.skip("needs root and the Caffe chroot (bash tools/caffe-env.sh)")


def _resnet152(folder: Path):
    sys.path.insert(0, str(ROOT / "bench"))
    import make_models
    return make_models.make(152, folder), None, None


def _googlenet(folder: Path):
    import googlenet
    return googlenet.write_model(folder)[1], None, None


def _golden(path: Path):
    def make(folder: Path):
        # The golden's own input: some cases need deliberate values (Embed and BatchReindex
        # indices, Filter selectors, RNN cont markers) that a seeded normal input breaks.
        from converter.golden import read_golden
        golden = read_golden(path)
        if golden.attrs.get("unsupported_reason"):
            pytest.skip(str(golden.attrs["unsupported_reason"]))
        return golden_caffemodel(golden, folder), golden.inputs, golden.tolerances
    return make


MODELS = {"resnet152": _resnet152, "googlenet": _googlenet,
          **{f"golden-{p.stem}": _golden(p) for p in GOLDEN_FILES}}
SLOW = {"resnet152", "golden-kaiming_resnet50", "golden-kaiming_resnet101",
        "golden-kaiming_resnet152"}


def _planted(net, weights, run):
    """Our weights with the last weighted layer whose top Caffe reports shifted by 5% of its
    largest magnitude; returns (weights, the blob that must diverge first) or None."""
    for layer in reversed(net.layers):
        if weights.get(layer.name) and layer.tops and layer.tops[0] in run.blobs:
            blobs = [np.array(b, np.float32) for b in weights[layer.name]]
            blobs[0] = blobs[0] + np.float32(0.05 * (np.abs(blobs[0]).max() + 1e-3))
            return dict(weights, **{layer.name: blobs}), layer.tops[0]
    return None


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n
                                  for n in MODELS])
def test_model_against_real_caffe(name, tmp_path):
    require_caffe()
    model, inputs, tolerances = MODELS[name](tmp_path)
    net, weights = converter.load_caffe(str(model))
    inputs = inputs or make_inputs(net)
    run = run_caffe(str(model), inputs)
    # info's totals are Caffe's own parameter count.
    info = describe(load_net(str(model))[0])
    assert info.total_params == run.param_count
    # verify --caffe: every blob of a correct conversion within the default tolerance.
    golden = caffe_golden(run, inputs, 1e-5, 1e-3)
    if tolerances:
        # The same Caffe on the same input reproduces the golden's blobs, so the golden's
        # per-channel tolerances (measured against float64) apply; a flat 1e-3 is below the
        # float32 floor of ResNet-152's deep blobs on the golden's image-scale input.
        golden = dataclasses.replace(golden, tolerances=dict(tolerances))
    report = compare(golden, run_torch(net, weights, inputs))
    assert report.passed, report.first_failure
    assert report.compared == len([r for r in report.rows if r.kind == "full"]) >= 5
    planted = _planted(net, weights, run)
    if planted is not None:
        bad = compare(golden, run_torch(net, planted[0], inputs))
        assert bad.first_failure is not None and bad.first_failure.name == planted[1]


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    folder = tmp_path_factory.mktemp("reference")
    net = build(n=1)
    net.validate()
    path = folder / "r8.caffemodel"
    write_caffemodel(net, random_weights(net, scale=0.2), path)
    return path


def run_cli(argv, capsys):
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:  # verify's exit 1 on a failed comparison
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("framework", ["torch", "mxnet"])
def test_cli_verify_caffe_passes_and_plots(small, framework, tmp_path, capsys):
    require_caffe()
    if framework == "mxnet":
        pytest.importorskip("mxnet")
    plot = tmp_path / "errors.svg"
    code, out, err = run_cli(["verify", small, "--caffe", "--plot", plot,
                              "--framework", framework], capsys)
    assert code == 0, err
    assert out.splitlines()[-1].startswith("PASS: ") and "res3a_branch2b" in out
    assert "rtol 0.001" in out and "PASS" in plot.read_text()


def test_cli_verify_caffe_names_a_planted_wrong_weight(small, tmp_path, capsys, monkeypatch):
    require_caffe()
    real = converter.load_caffe

    def wrong(*args, **kwargs):  # our side reads one wrong weight; Caffe the right file
        net, weights = real(*args, **kwargs)
        w = np.array(weights["res3a_branch2b"][0])
        w[0, 0, 1, 1] += 1.0
        return net, dict(weights, res3a_branch2b=[w] + list(weights["res3a_branch2b"][1:]))

    monkeypatch.setattr(converter, "load_caffe", wrong)
    plot = tmp_path / "errors.svg"
    code, out, _ = run_cli(["verify", small, "--caffe", "--input",
                            _npy(tmp_path), "--plot", plot], capsys)
    assert code == 1
    assert out.splitlines()[-1].startswith("FAIL: first diverging blob: res3a_branch2b ")
    assert "first divergence: res3a_branch2b" in plot.read_text()


def _npy(folder: Path) -> Path:
    path = folder / "x.npy"
    np.save(path, np.random.default_rng(5).standard_normal((2, 3, 32, 32)).astype(np.float32))
    return path


def test_cli_golden_then_verify_golden(small, tmp_path, capsys):
    require_caffe()
    out = tmp_path / "r8.h5"
    code, _, err = run_cli(["golden", small, "-o", out, "--input", _npy(tmp_path)], capsys)
    assert code == 0, err
    from converter.golden import read_golden
    golden = read_golden(out)
    assert golden.inputs["data"].shape == (2, 3, 32, 32)
    assert golden.blob_names[:2] == ["data", "conv1"] and golden.attrs["storage"] == "full"
    code, text, _ = run_cli(["verify", small, "--golden", out], capsys)
    assert code == 0 and text.splitlines()[-1].startswith("PASS: ")


@pytest.mark.parametrize("argv,message", [
    (["--caffe", "--golden", "g.h5"], "exactly one of --golden G.h5 and --caffe"),
    ([], "exactly one of --golden G.h5 and --caffe"),
    (["--caffe", "--caffe-python", "/nonexistent/python"], "cannot run /nonexistent/python"),
    (["--caffe", "--input", "/nonexistent/x.npy"], "not a readable .npy array"),
    (["--caffe", "--plot", "errors.gif"], "the plot must end in .png, .svg, .pdf"),
])
def test_cli_usage_errors_are_one_line(small, argv, message, capsys):
    code, _, err = run_cli(["verify", small] + argv, capsys)
    assert code == 2 and err.count("\n") == 1 and message in err


def test_cli_plot_over_the_model_is_refused(small, tmp_path, capsys):
    plot = tmp_path / "model.png"
    os.link(small, plot)  # the same file under a plot's name
    code, _, err = run_cli(["verify", small, "--caffe", "--plot", plot], capsys)
    assert code == 2 and "the output is the input file" in err and plot.stat().st_nlink == 2


def test_cli_verify_with_a_users_pycaffe(small, tmp_path, capsys):
    """--caffe-python: any Python that imports caffe. Here the chroot's python3, reached
    through tools/caffe-run.sh with the system temporary folder (where the job is written)
    mounted at the same path."""
    require_caffe()
    import tempfile
    python = tmp_path / "pycaffe-python"
    python.write_text(f"#!/bin/sh\nCAFFE_RUN_BIND={tempfile.gettempdir()} "
                      f"exec sh {ROOT / 'tools' / 'caffe-run.sh'} \"$@\"\n")
    python.chmod(0o755)
    code, out, err = run_cli(["verify", small, "--caffe", "--caffe-python", python], capsys)
    assert code == 0, err
    assert out.splitlines()[-1].startswith("PASS: ")
