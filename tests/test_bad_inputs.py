"""Every class of bad input through ``resnet-convert``: exit 2, one line naming the file (and
the layer where there is one), no traceback, no output file.

Each class is one entry of :data:`CLASSES`: a function that writes the inputs into the current
folder and returns the CLI arguments. Paths are relative, so the messages are exactly what a
user sees after ``cd``-ing to their files. ``python tests/test_bad_inputs.py`` prints
``docs/errors.md`` (the table of classes and messages) from real runs;
``test_docs_table_is_current`` keeps the two in step.
"""

from __future__ import annotations

import io
import os
import pickle
import re
import shutil
import subprocess
import sys
import zipfile
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, List, Optional

import numpy as np
import pytest

import fuzz_corpus as F
from converter.caffe.proto import NetParameter
from converter.caffe.writer import net_to_proto
from converter.cli.convert import main

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "errors.md"
MODEL = "model.caffemodel"
PROTO = "deploy.prototxt"
OUT = "out/model.safetensors"


# ---------------------------------------------------------------- input makers

def _tiny() -> F.Seed:
    return F.seeds()["tiny"]


def _model(data: Optional[bytes] = None) -> str:
    Path(MODEL).write_bytes(_tiny().caffemodel if data is None else data)
    return MODEL


def _proto(text: str) -> str:
    Path(PROTO).write_text(text)
    return PROTO


def _edited(edit: Callable[[NetParameter], None]) -> bytes:
    """The tiny model with ``edit`` applied to its NetParameter."""
    netp = NetParameter()
    netp.ParseFromString(_tiny().caffemodel)
    edit(netp)
    return netp.SerializeToString()


def _layer(netp, name):
    return next(lp for lp in netp.layer if lp.name == name)


def _convert(*extra, model=MODEL, out=OUT) -> List[str]:
    return ["caffe2torch", model, "-o", out, *extra]


def _nan_model() -> bytes:
    weights = {k: [a.copy() for a in v] for k, v in _tiny().weights.items()}
    weights["fc"][0][0, 0] = np.nan
    return net_to_proto(_tiny().net, weights).SerializeToString()


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:  # what torch.save writes: a zip holding a pickle
        z.writestr("archive/data.pkl", pickle.dumps({"conv1.weight": [0.0]}))
    return buf.getvalue()


def _add_extra_fc(netp) -> None:
    """A second weighted layer that no prototxt of the tiny net has."""
    extra = netp.layer.add()
    extra.CopyFrom(_layer(netp, "fc"))
    extra.name, extra.top[0] = "fc_extra", "fc_extra"


def _rename_layer(old: str, new: str) -> str:
    return _tiny().prototxt.replace(f'name: "{old}"', f'name: "{new}"')


@dataclass
class BadInput:
    """One class of bad input: how to make it, what the message must contain."""
    title: str
    make: Callable[[], List[str]]
    expect: str                     # a regex the message (after "resnet-convert: error: ") matches
    file: Optional[str] = MODEL     # the file the message must name first (None: a flag)
    layer: Optional[str] = None     # the layer it must name, where there is one


CLASSES = [
    BadInput("missing file", lambda: _convert(model="missing.caffemodel"),
             "cannot read file: No such file", file="missing.caffemodel"),
    BadInput("empty file", lambda: (_model(b""), _convert())[1], "the file is empty"),
    BadInput("truncated caffemodel",
             lambda: (_model(_tiny().caffemodel[:len(_tiny().caffemodel) // 2]), _convert())[1],
             "truncated or corrupt"),
    BadInput("random bytes",
             lambda: (_model(np.random.default_rng(0).integers(0, 256, 4096, np.uint8)
                             .tobytes()), _convert())[1], "not a valid binary Caffe model"),
    BadInput("text prototxt given as the caffemodel",
             lambda: (_model(_tiny().prototxt.encode()), _convert())[1], "this is a text file"),
    BadInput("zip (e.g. a torch.save file) named .caffemodel",
             lambda: (_model(_zip()), _convert())[1], "this is a zip archive"),
    BadInput("pickle named .caffemodel",
             lambda: (_model(pickle.dumps({"conv1": [1.0, 2.0]})), _convert())[1],
             "this is a Python pickle"),
    BadInput("binary caffemodel given as --prototxt",
             lambda: (_model(), Path(PROTO).write_bytes(_tiny().caffemodel),
                      _convert("--prototxt", PROTO))[2], "this is a binary file", file=PROTO),
    BadInput("layer missing in the caffemodel (prototxt has a weighted layer it lacks)",
             lambda: (_model(), _proto(_rename_layer("fc", "fc_new")),
                      _convert("--prototxt", PROTO))[2],
             "no weights for this layer", layer="fc_new"),
    BadInput("layer missing in the prototxt (caffemodel has weights it lacks)",
             lambda: (_model(_edited(_add_extra_fc)), _proto(_tiny().prototxt),
                      _convert("--prototxt", PROTO))[2],
             "the caffemodel has weights for layer\\(s\\) the prototxt lacks: 'fc_extra'"),
    BadInput("blob shape mismatch",
             lambda: (_model(), _proto(_tiny().prototxt.replace("kernel_w: 5", "kernel_w: 3")),
                      _convert("--prototxt", PROTO))[2],
             r"blob 0 has shape \[4, 3, 3, 5\] in the caffemodel but the prototxt implies "
             r"\[4, 3, 3, 3\]", layer="conv"),
    BadInput("blob count mismatch",
             lambda: (_model(), _proto(_tiny().prototxt.replace(
                 "inner_product_param { num_output: 6 }",
                 "inner_product_param { num_output: 6 bias_term: false }")),
                      _convert("--prototxt", PROTO))[2],
             "the caffemodel has 2 blob\\(s\\), the prototxt implies 1", layer="fc"),
    BadInput("unknown layer types (all listed at once)",
             lambda: (_model(), _proto(_tiny().prototxt.replace('type: "Sigmoid"', 'type: "Normalize"')
                                       .replace('type: "TanH"', 'type: "PriorBox"')),
                      _convert("--prototxt", PROTO))[2],
             "2 layer\\(s\\) of unsupported type: 'sig' \\(Normalize\\), 'tanh' \\(PriorBox\\)",
             file=PROTO),
    BadInput("undefined bottom",
             lambda: (_model(), _proto(_tiny().prototxt.replace('bottom: "lrn" top: "sig"',
                                                                'bottom: "lnr" top: "sig"')),
                      _convert("--prototxt", PROTO))[2],
             "bottom 'lnr' is not produced by any earlier layer", file=PROTO, layer="sig"),
    BadInput("duplicate layer name",
             lambda: (_model(), _proto(_tiny().prototxt.replace('name: "tanh"', 'name: "sig"')),
                      _convert("--prototxt", PROTO))[2],
             "duplicate", file=PROTO, layer="sig"),
    BadInput("cycle (a bottom used before any layer produces it)",
             lambda: (_model(), _proto(_tiny().prototxt.replace(
                 'bottom: "lrn" top: "sig"', 'bottom: "cat" top: "sig"')),
                      _convert("--prototxt", PROTO))[2],
             "bottom 'cat' is not produced by any earlier layer", file=PROTO, layer="sig"),
    BadInput("Caffe-fork field (ceil_mode in pooling_param)",
             lambda: (_model(), _proto(_tiny().prototxt.replace("pool: MAX", "pool: MAX ceil_mode: true")),
                      _convert("--prototxt", PROTO))[2],
             "ceil_mode.*not a BVLC Caffe field", file=PROTO, layer="pool"),
    BadInput("NaN/Inf weights (without --allow-nonfinite)",
             lambda: (_model(_nan_model()), _convert())[1],
             "blob 0 holds 1 NaN/Inf value\\(s\\); pass --allow-nonfinite", layer="fc"),
    BadInput("bad --input-shape", lambda: (_model(), _convert("--input-shape", "1,3,x,32"))[1],
             "--input-shape: expected comma-separated integers", file=None),
    BadInput("unknown --outputs blob", lambda: (_model(), _convert("--outputs", "pool5"))[1],
             "--outputs: no blob named 'pool5'"),
    BadInput("bad -o extension", lambda: (_model(), _convert(out="out/model.pt"))[1],
             "-o must end in .safetensors, .pt2, .onnx, .py", file="out/model.pt"),
    BadInput("output folder does not exist",
             lambda: (_model(), _convert(out="nowhere/model.safetensors"))[1],
             "cannot write here: No such file or directory", file="nowhere/model.safetensors"),
    BadInput("output folder is a file",
             lambda: (_model(), Path("afile").write_text("x"),
                      _convert(out="afile/model.safetensors"))[2],
             "cannot write here: Not a directory", file="afile/model.safetensors"),
    BadInput("blob whose shape claims far more values than the file holds",
             lambda: (_model(_edited(lambda n: _layer(n, "fc").blobs[0].shape.dim.__setitem__(
                 0, 2**31))), _convert())[1],
             "exceeds Caffe's 2\\^31-1 elements", layer="fc"),
    BadInput("output is the input (-o names the model file)",
             lambda: (Path("m.onnx").write_bytes(_tiny().caffemodel),
                      _convert(model="m.onnx", out="m.onnx"))[1],
             "the output is the input file 'm.onnx'", file="m.onnx"),
    BadInput("output folder is an output's name (-o out)",
             lambda: (_model(), _convert(out="out"))[1], "-o must end in", file="out"),
    BadInput("a FIFO (named pipe) as the model",
             lambda: (os.mkfifo("pipe.caffemodel"), _convert(model="pipe.caffemodel"))[1],
             "not a regular file", file="pipe.caffemodel"),
    BadInput("/dev/zero as --prototxt",
             lambda: (_model(), _convert("--prototxt", "/dev/zero"))[1],
             "not a regular file", file="/dev/zero"),
    BadInput("/dev/urandom as --mean",
             lambda: (_model(), _convert("--mean", "/dev/urandom"))[1],
             "not a regular file", file="/dev/urandom"),
    BadInput("a folder as the model", lambda: (Path("d").mkdir(), _convert(model="d"))[1],
             "is a folder, not a caffemodel", file="d"),
    BadInput("a (huge) file of zeros as the model, refused by its first byte",
             lambda: (_model(bytes(4096)), _convert())[1], "its first byte \\(0x00\\)"),
]


# ---------------------------------------------------------------- running a class

def run_class(case: BadInput, folder: Path):
    """Run ``case`` in ``folder`` (as the current directory); returns (code, stdout, stderr,
    files left in out/)."""
    old = os.getcwd()
    os.chdir(folder)
    try:
        Path("out").mkdir(exist_ok=True)
        argv = case.make()
        err, out = io.StringIO(), io.StringIO()
        with redirect_stderr(err), redirect_stdout(out):
            code = main(argv)
        left = sorted(os.listdir("out"))
    finally:
        os.chdir(old)
    return code, out.getvalue(), err.getvalue(), left, argv


def check_line(case: BadInput, err: str) -> str:
    """The message after ``resnet-convert: error: `` once the contract is checked."""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    prefix = "resnet-convert: error: "
    assert lines[0].startswith(prefix), err
    message = lines[0][len(prefix):]
    if case.file is not None:
        assert message.startswith(f"{case.file}: "), message
    if case.layer:
        assert re.search(rf"layer '{re.escape(case.layer)}'( \([A-Za-z]+\))?: ", message), message
    assert re.search(case.expect, message), message
    return message


@pytest.mark.parametrize("case", CLASSES, ids=[c.title for c in CLASSES])
def test_bad_input(case, tmp_path):
    code, out, err, left, _ = run_class(case, tmp_path)
    assert code == 2, err
    check_line(case, err)
    assert out == "" and left == []
    assert not [p for p in tmp_path.rglob("*") if p.suffix in (".safetensors", ".tmp", ".pt")
                and p.name != "model.pt"]


def test_allow_nonfinite_converts_with_one_warning(tmp_path):
    case = BadInput("nan allowed", lambda: (_model(_nan_model()),
                                            _convert("--allow-nonfinite"))[1], "")
    code, _, err, left, _ = run_class(case, tmp_path)
    assert code == 0 and left == ["model.safetensors"], err
    warning, wrote = err.splitlines()
    assert warning == (f"resnet-convert: warning: {MODEL}: layer 'fc': blob 0 holds 1 NaN/Inf "
                       "value(s); converted anyway (allow_nonfinite)")
    assert wrote == f"wrote {OUT}"


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write to a read-only folder")
def test_output_folder_not_writable(tmp_path):
    (tmp_path / "ro").mkdir()
    (tmp_path / "ro").chmod(0o500)
    case = BadInput("read-only", lambda: (_model(), _convert(out="ro/model.safetensors"))[1],
                    "cannot write here: Permission denied", file="ro/model.safetensors")
    try:
        code, _, err, _, _ = run_class(case, tmp_path)
    finally:
        (tmp_path / "ro").chmod(0o700)
    assert code == 2
    check_line(case, err)
    assert list((tmp_path / "ro").iterdir()) == []


def _can_mount() -> bool:
    """Root with a private mount namespace available (as in CI and tools/caffe-run.sh)."""
    if os.geteuid() != 0 or not shutil.which("unshare"):
        return False
    probe = subprocess.run(["unshare", "--mount", "--propagation", "private", "true"],
                           capture_output=True)
    return probe.returncode == 0


@pytest.mark.skipif(not _can_mount(), reason="needs root and unshare --mount")
def test_output_folder_on_read_only_mount(tmp_path, monkeypatch):
    """The same contract for root, who ignores permission bits: the output folder is a
    read-only bind mount (in a private mount namespace that ends with the command)."""
    (tmp_path / "ro").mkdir()
    monkeypatch.chdir(tmp_path)
    _model()
    script = ('mount --bind ro ro && mount -o remount,bind,ro ro && exec "$0" -m '
              'converter.cli.convert "$@"')
    proc = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                           script, sys.executable, *_convert(out="ro/model.safetensors")],
                          capture_output=True, text=True, cwd=tmp_path)
    case = BadInput("read-only mount", lambda: [], "cannot write here: Read-only file system",
                    file="ro/model.safetensors")
    assert proc.returncode == 2, proc.stderr
    check_line(case, proc.stderr)
    assert list((tmp_path / "ro").iterdir()) == []


@pytest.mark.parametrize("title", ["truncated caffemodel", "NaN/Inf weights (without "
                                   "--allow-nonfinite)", "unknown layer types (all listed at once)"])
def test_bad_input_subprocess(title, tmp_path):
    """The same contract from a real process (the console script's module)."""
    case = next(c for c in CLASSES if c.title == title)
    old = os.getcwd()
    os.chdir(tmp_path)
    try:
        Path("out").mkdir()
        argv = case.make()
    finally:
        os.chdir(old)
    proc = subprocess.run([sys.executable, "-m", "converter.cli.convert", *argv],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    check_line(case, proc.stderr)
    assert list((tmp_path / "out").iterdir()) == []
    debug = subprocess.run([sys.executable, "-m", "converter.cli.convert", *argv, "--debug"],
                           cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert debug.returncode == 2 and "Traceback" in debug.stderr  # --debug shows it


# ---------------------------------------------------------------- docs/errors.md

DOC_HEAD = """\
# Error messages

What `resnet-convert` prints for each kind of bad input. Every error is one line on stderr,
`resnet-convert: error: <file>: [layer 'name' (Type): ]<what is wrong and what to do>`, with
exit status 2; `--debug` adds the Python traceback. No output file is left behind: outputs are
written to a temporary file in the target folder, fsynced, and renamed into place only when
complete (an MXNet checkpoint's three files as one, all or nothing). A write error (a full disk,
a folder in the way) is one line too, `<output>: cannot write: No space left on device`, and
SIGTERM removes the temporary files as Ctrl-C does (exit 143). Inputs must be regular files
(a FIFO or a device such as `/dev/zero` is refused before it is opened); a prototxt or mean file
over 256 MB is refused unread, and a caffemodel whose first byte cannot start a protobuf message
is refused from that byte. An error line quoting a huge name is cut to about 1,000 characters.

The messages below are real: `python tests/test_bad_inputs.py > docs/errors.md` regenerates
this page from runs in a folder holding `model.caffemodel` (a tiny net of most supported layer
types, see `tests/fuzz_corpus.py`) and, where used, `deploy.prototxt`
(`tests/test_bad_inputs.py::test_docs_table_is_current` checks it is up to date).
The fuzz suite (`tests/test_fuzz.py`) checks the same contract on thousands of mutated files.

| Bad input | Command | Message |
|---|---|---|
"""

DOC_TAIL = """
With `--allow-nonfinite` the NaN model converts, with one warning line:

    {warning}

Known limits:

* A caffemodel cut exactly at a layer boundary is a valid, shorter protobuf message (the format
  has no end marker): without a prototxt it converts as the shorter net. Pass `--prototxt` to
  catch it (a missing weighted layer is then an error).
* Fields that BVLC Caffe does not define are reported in prototxt (text) files. In a binary
  caffemodel they are unknown fields, which protobuf skips, as Caffe itself does.
"""


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def generate_doc() -> str:
    """docs/errors.md from real runs of every class."""
    import tempfile
    rows = []
    for case in CLASSES:
        with tempfile.TemporaryDirectory() as folder:
            code, _, err, _, argv = run_class(case, Path(folder))
        assert code == 2, (case.title, err)
        command = " ".join(["resnet-convert", *argv])
        rows.append(f"| {_cell(case.title)} | `{_cell(command)}` | `{_cell(err.strip())}` |")
    with __import__("tempfile").TemporaryDirectory() as folder:
        nan = BadInput("", lambda: (_model(_nan_model()), _convert("--allow-nonfinite"))[1], "")
        _, _, err, _, _ = run_class(nan, Path(folder))
    return DOC_HEAD + "\n".join(rows) + "\n" + DOC_TAIL.format(warning=err.splitlines()[0])


def _comparable(doc: str) -> str:
    # protobuf's own parse-error wording differs between its releases; ours must not drift.
    return re.sub(r"\(Error parsing message[^)]*\)", "(...)", doc)


def test_docs_table_is_current():
    assert DOC.exists(), "run: python tests/test_bad_inputs.py > docs/errors.md"
    assert _comparable(DOC.read_text()) == _comparable(generate_doc()), \
        "docs/errors.md is stale; run: python tests/test_bad_inputs.py > docs/errors.md"


if __name__ == "__main__":
    sys.stdout.write(generate_doc())
