"""Progress on stderr: drawn on a terminal, silent in pipes and with --quiet; and the ONNX
export no longer warns about tensors turned into Python booleans."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import warnings

import pytest

from converter import progress
from converter.builders import build
from converter.caffe.writer import write_caffemodel
from golden_support import ROOT  # noqa: F401  (puts tools/ on sys.path)
from netutil import random_weights


class FakeTTY(io.StringIO):
    def isatty(self):
        return True


@pytest.fixture()
def model(tmp_path):
    net = build(n=1)
    net.validate()
    path = tmp_path / "r8.caffemodel"
    write_caffemodel(net, random_weights(net, scale=0.2), path)
    return path


@pytest.mark.parametrize("tty,quiet,shown", [(True, False, True), (True, True, False),
                                             (False, False, False)])
def test_steps_draw_only_on_a_terminal(tty, quiet, shown, monkeypatch):
    err = FakeTTY() if tty else io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    progress.set_quiet(quiet)
    try:
        with progress.steps("job", ["a", "b"]) as job:
            job.step("phase one")
            job.step("phase two")
        list(progress.bar(range(3), "loop"))
    finally:
        progress.set_quiet(False)
    text = err.getvalue()
    assert ("job: phase two" in text and "loop" in text) == shown
    assert bool(text) == shown


def _run_on_pty(argv, cwd):
    """Run the CLI with stderr on a pseudo-terminal; return (status, what it drew)."""
    master, slave = os.openpty()
    try:
        proc = subprocess.run([sys.executable, "-m", "converter.cli.convert"] + argv,
                              stdout=subprocess.PIPE, stderr=slave, cwd=cwd, timeout=300)
        os.close(slave)
        chunks = []
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
    finally:
        os.close(master)
    return proc.returncode, b"".join(chunks).decode("utf-8", "replace")


@pytest.mark.parametrize("quiet", [False, True])
def test_export_shows_phases_on_a_terminal(model, tmp_path, quiet):
    argv = ["caffe2torch", str(model), "-o", str(tmp_path / "m.onnx")] + (["--quiet"] * quiet)
    code, drawn = _run_on_pty(argv, tmp_path)
    assert code == 0
    assert ("caffe2torch m.onnx: exporting .onnx" in drawn) == (not quiet)
    assert "wrote" in drawn


def test_pipes_get_no_progress(model, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "converter.cli.convert", "caffe2mxnet",
                           str(model), "-o", str(tmp_path / "m")] if _has_mxnet() else
                          [sys.executable, "-m", "converter.cli.convert", "caffe2torch",
                           str(model), "-o", str(tmp_path / "m.pt2")],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
    assert proc.returncode == 0
    assert all(line.startswith(b"wrote ") for line in proc.stderr.splitlines())


def _has_mxnet() -> bool:
    try:
        import mxnet  # noqa: F401
    except ImportError:
        return False
    return True


def _variant(folder, **kwargs):
    net = build(n=1, **kwargs)
    net.validate()
    path = folder / "variant.caffemodel"
    write_caffemodel(net, random_weights(net, scale=0.2), path)
    return path


@pytest.mark.parametrize("which", ["resnet", "preact", "mxnet_variant", "googlenet"])
def test_onnx_export_has_no_tensor_to_boolean_warning(which, tmp_path):
    """Shape tests in the in-place residual sums (Eltwise, and the post-op fallback that
    pre-activation and MXNet-variant nets use) and the channel clamp of LRN (GoogLeNet)
    used to turn traced sizes into Python booleans (a TracerWarning each)."""
    pytest.importorskip("onnx")
    from converter.convert import caffe2torch
    import googlenet
    path = {"resnet": lambda: _variant(tmp_path), "preact": lambda: _variant(tmp_path, preact=True),
            "mxnet_variant": lambda: _variant(tmp_path, variant="mxnet"),
            "googlenet": lambda: googlenet.write_model(tmp_path)[1]}[which]()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        caffe2torch(path, tmp_path / "m.onnx")
    messages = [str(w.message) for w in caught]
    assert not [m for m in messages if "Converting a tensor to a Python boolean" in m]
