"""Never a lost file (issue 11): outputs that are inputs, all-or-nothing checkpoints, write
errors (a full disk), SIGTERM, endless and special inputs, capped error lines, verify's
malformed goldens and resnet-gen's field ranges. Each case is one line, exit 2, no file."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import fuzz_corpus as F
from converter import fileio
from converter.caffe.reader import parse_prototxt_text
from converter.caffe.writer import write_caffemodel
from converter.cli.convert import main
from converter.cli.gen import main as gen_main


@pytest.fixture
def tiny(tmp_path):
    """The fuzz corpus's tiny model in an otherwise empty folder."""
    net = parse_prototxt_text(F.TINY_PROTOTXT)
    path = tmp_path / "m.caffemodel"
    write_caffemodel(net, F.random_weights(net, 1), path)
    return path


def _run(argv, capsys):
    code = main([str(a) for a in argv])
    return code, capsys.readouterr().err


def _one_error(code, err):
    """Exit 2 and one error line (after any warnings a framework printed on the way)."""
    *before, last = err.splitlines() or [""]
    assert code == 2 and last.startswith("resnet-convert: error:"), err
    assert all(line.startswith("resnet-convert: warning:") for line in before), err


# ------------------------------------------------------------------ the output is the input

@pytest.mark.parametrize("case", ["pt2-onto-itself", "mxnet-params", "default-safetensors",
                                  "hard-link", "prototxt", "mean"])
def test_output_that_is_an_input_is_refused(tiny, tmp_path, capsys, case):
    folder = tmp_path
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    if case == "pt2-onto-itself":
        argv = ["caffe2torch", tiny, "-o", tiny.with_suffix(".pt2")]
        os.replace(tiny, tiny.with_suffix(".pt2"))
        argv[1] = tiny.with_suffix(".pt2")
    elif case == "mxnet-params":
        params = folder / "m-0000.params"
        os.replace(tiny, params)
        argv = ["caffe2mxnet", params, "-o", folder / "m"]
    elif case == "default-safetensors":
        model = folder / "x.safetensors"
        os.replace(tiny, model)
        argv = ["caffe2torch", model]
    elif case == "hard-link":
        os.link(tiny, folder / "o.safetensors")
        argv = ["caffe2torch", tiny, "-o", folder / "o.safetensors"]
    elif case == "prototxt":
        (folder / "d.onnx").write_text(F.TINY_PROTOTXT)
        argv = ["caffe2torch", tiny, "--prototxt", folder / "d.onnx", "-o", folder / "d.onnx"]
    else:
        (folder / "mean-symbol.json").write_bytes(b"x")
        argv = ["caffe2mxnet", tiny, "--mean", folder / "mean-symbol.json", "-o", folder / "mean"]
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    code, err = _run(argv, capsys)
    _one_error(code, err)
    assert "is the input file" in err
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


# ------------------------------------------------------------------ writes that fail

def _enospc_on_write(monkeypatch, after_bytes=0):
    """os.write fails with ENOSPC once ``after_bytes`` were written (a full disk)."""
    real, written = os.write, [0]

    def write(fd, data):
        if written[0] >= after_bytes:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        written[0] += len(data)
        return real(fd, data)
    monkeypatch.setattr(os, "write", write)


@pytest.mark.parametrize("flags", [["-o", "o.safetensors"], ["-o", "o.safetensors", "--fold-bn"],
                                   ["-o", "o.safetensors", "--rgb"], ["-o", "o.pt2"],
                                   ["-o", "o.onnx"], ["mxnet"]])
def test_disk_full_is_one_line_and_leaves_nothing(tiny, tmp_path, capsys, monkeypatch, flags):
    """Defect 5: .pt2 aborted (exit 134), --fold-bn/--rgb and caffe2mxnet printed tracebacks."""
    out = tmp_path / "out"
    out.mkdir()
    if flags == ["mxnet"]:
        argv = ["caffe2mxnet", tiny, "-o", out / "o"]
        if "mxnet" not in sys.modules:
            pytest.importorskip("mxnet")
        import mxnet as mx
        real_save = mx.nd.save

        def save(fname, data):  # MXNet writes from C++: make it meet a full disk too
            real_save(fname, data)
            raise mx.base.MXNetError("Check failed: fo->Write: No space left on device")
        monkeypatch.setattr(mx.nd, "save", save)
    else:
        argv = ["caffe2torch", tiny, flags[1:2] and "-o", out / flags[1], *flags[2:]]
    _enospc_on_write(monkeypatch)
    code, err = _run(argv, capsys)
    _one_error(code, err)
    assert ("No space left" in err) and list(out.iterdir()) == []


@pytest.mark.parametrize("how", ["folder in the way", "last rename fails"])
def test_mxnet_checkpoint_is_all_or_nothing(tiny, tmp_path, capsys, monkeypatch, how):
    """Defect 4: a failure on the last file left the first two behind; an older checkpoint
    under the prefix must stay whole."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "m-symbol.json").write_text("old symbol")
    if how == "folder in the way":
        (out / "m-preprocess.json").mkdir()
    else:
        real = os.replace

        def replace(src, dst):
            if str(dst).endswith("m-preprocess.json"):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return real(src, dst)
        monkeypatch.setattr(os, "replace", replace)
    before = sorted(p.name for p in out.iterdir())
    code, err = _run(["caffe2mxnet", tiny, "-o", out / "m"], capsys)
    _one_error(code, err)
    assert sorted(p.name for p in out.iterdir()) == before
    assert (out / "m-symbol.json").read_text() == "old symbol"


def test_atomic_outputs_undo_every_rename(tmp_path, monkeypatch):
    """The shared writer: when the second rename fails, the first is undone."""
    (tmp_path / "a").write_text("old a")
    real, calls = os.replace, []

    def replace(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            raise OSError(errno.EIO, "injected")
        return real(src, dst)
    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(fileio.ConverterError, match="injected"):
        with fileio.atomic_outputs([tmp_path / "a", tmp_path / "b"]) as (ta, tb):
            fileio.write_bytes(ta, b"new a")
            fileio.write_bytes(tb, b"new b")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a"]
    assert (tmp_path / "a").read_text() == "old a"


def test_missing_folder_fails_before_the_work(tiny, tmp_path, capsys, monkeypatch):
    """A .pt2 to a missing folder failed only after the whole export."""
    from converter.backends.torch import export as torch_export
    monkeypatch.setattr(torch_export, "export_pt2", lambda *a: pytest.fail("exported"))
    code, err = _run(["caffe2torch", tiny, "-o", tmp_path / "nowhere" / "m.pt2"], capsys)
    _one_error(code, err)
    assert "No such file or directory" in err


def test_sigterm_leaves_no_temporary_file(tiny, tmp_path):
    """SIGTERM (timeout, CI cancel) is handled like Ctrl-C: exit 143 and no hidden temp."""
    out = tmp_path / "out"
    out.mkdir()
    code = ("import os, signal, sys\n"
            "import converter.fileio as f\n"
            "real = f.write_bytes\n"
            "def slow(path, payload):\n"
            "    real(path, payload)\n"
            "    print('written', flush=True)\n"
            "    signal.pause()\n"
            "f.write_bytes = slow\n"
            "from converter.cli.convert import main\n"
            f"sys.exit(main(['caffe2torch', {str(tiny)!r}, '-o', {str(out / 'm.pt2')!r}]))\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "written"
        assert len(list(out.iterdir())) == 1  # the full-size temporary file
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 128 + signal.SIGTERM
    finally:
        proc.kill()
    assert list(out.iterdir()) == []


# ------------------------------------------------------------------ endless and special inputs

def _fifo(tmp_path):
    path = tmp_path / "fifo"
    os.mkfifo(path)
    return path


@pytest.mark.parametrize("where", ["model", "--prototxt", "--mean"])
@pytest.mark.parametrize("special", ["fifo", "/dev/zero", "/dev/urandom", "folder"])
def test_special_files_are_refused(tiny, tmp_path, capsys, where, special):
    """Defect 6: /dev/zero was read without limit; a FIFO with no writer blocked forever."""
    path = {"fifo": lambda: _fifo(tmp_path), "folder": lambda: tmp_path}.get(
        special, lambda: special)()
    argv = ["caffe2torch", tiny, "-o", tmp_path / "o.safetensors"]
    argv = [argv[0], path, *argv[2:]] if where == "model" else argv + [where, path]
    start = time.monotonic()
    code, err = _run(argv, capsys)
    _one_error(code, err)
    assert ("not a regular file" in err or "is a folder" in err) and str(path) in err
    assert time.monotonic() - start < 10 and not (tmp_path / "o.safetensors").exists()


def test_huge_file_of_zeros_is_refused_by_its_first_byte(tmp_path, capsys):
    """Defect 6: a 1.9 GB file of zeros was read whole before being refused."""
    path = tmp_path / "zeros.caffemodel"
    with open(path, "wb") as f:
        f.truncate(1_900_000_000)  # sparse: costs no disk
    code, err = _run(["caffe2torch", path, "-o", tmp_path / "o.safetensors"], capsys)
    _one_error(code, err)
    assert "its first byte (0x00) cannot start one" in err


def test_prototxt_over_the_text_limit(tiny, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("converter.caffe.parse.MAX_TEXT_BYTES", 1000)
    big = tmp_path / "big.prototxt"
    big.write_text(F.TINY_PROTOTXT + "#" * 2000)
    code, err = _run(["caffe2torch", tiny, "--prototxt", big, "-o", tmp_path / "o.pt2"], capsys)
    _one_error(code, err)
    assert "bytes is more than a prototxt can be" in err


def test_error_lines_quote_little_of_the_input(tiny, tmp_path, capsys):
    """Error lines echoed up to 300 KB of input."""
    proto = tmp_path / "long.prototxt"
    proto.write_text(F.TINY_PROTOTXT.replace('bottom: "conv" top: "gconv"',
                                             f'bottom: "{"x" * 300_000}" top: "gconv"'))
    code, err = _run(["caffe2torch", tiny, "--prototxt", proto, "-o", tmp_path / "o.pt2"], capsys)
    _one_error(code, err)
    assert len(err) < 1200 and "characters]" in err and str(proto) in err


# ------------------------------------------------------------------ verify's goldens

def _golden(path, **edits):
    """A minimal golden file for the tiny net, with ``edits`` (None deletes an entry)."""
    h5py = pytest.importorskip("h5py")
    with h5py.File(path, "w") as h5:
        h5.attrs["format"] = "resnet-convert-golden/1"
        h5.attrs["atol"] = edits.pop("atol", 1e-5)
        h5.create_dataset("input/data", data=edits.pop("input", np.zeros((1, 3, 9, 11),
                                                                          np.float32)))
        names = edits.pop("blob_names", ["prob"])
        if names is not None:
            h5.create_dataset("blob_names", data=np.array(names, dtype="S"))
        h5.create_dataset("blobs/prob", data=np.zeros((1, 2, 3), np.float32))
    return path


@pytest.mark.parametrize("edit, message", [
    ({"blob_names": None}, "no blob_names"),
    ({"input": np.zeros((1, 3, 5, 5), np.float32)}, "has shape [1, 3, 5, 5]"),
    ({"atol": "abc"}, "attribute atol is not a number"),
    ("folder", "is a folder"),
])
def test_malformed_goldens_are_one_line(tiny, tmp_path, capsys, edit, message):
    """Defect 7 and '--golden .' (which said 'no such file')."""
    golden = tmp_path if edit == "folder" else _golden(tmp_path / "g.h5", **edit)
    code, err = _run(["verify", tiny, "--golden", golden], capsys)
    _one_error(code, err)
    assert message in err


def test_verify_comparing_nothing_fails(tiny, tmp_path, capsys):
    """Defect 7: 'PASS: 0 blobs match', exit 0, for golden names that match no blob."""
    golden = _golden(tmp_path / "g.h5", blob_names=["nothing"])
    with pytest.raises(SystemExit) as exit_:
        main(["verify", str(tiny), "--golden", str(golden)])
    out = capsys.readouterr().out
    assert exit_.value.code == 1 and "FAIL: no blob compared" in out and "PASS" not in out


# ------------------------------------------------------------------ resnet-gen ranges

@pytest.mark.parametrize("argv, message", [
    (["--classes", "1000000000000"], "--classes: must be positive and at most 4294967295"),
    (["--n", "100000"], "--n: must be positive and at most 1000"),
    (["--n", "3", "--input-size", "4294967296"], "--input-size: must be positive and at most"),
    (["--batch", "0"], "--batch: must be positive and at most"),
])
def test_resnet_gen_refuses_values_out_of_field_range(argv, message, capsys, tmp_path):
    """Defect 8: --classes 1000000000000 wrote a prototxt Caffe's parser rejects."""
    code = gen_main(["prototxt", *argv, "-o", str(tmp_path / "n.prototxt")])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.splitlines()) == 1, err
    assert list(tmp_path.iterdir()) == []
