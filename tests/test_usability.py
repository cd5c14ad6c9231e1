"""Rough edges a new user met (issue 17): install extras, --outputs arity, README set-up,
``--help`` and the ``.pt2`` archive's folder name. Each test failed before its fix."""

from __future__ import annotations

import re
import shlex
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from converter import load_torch, to_torch
from converter.builders import build
from converter.caffe.writer import write_caffemodel
from converter.cli.convert import main
from netutil import random_weights

ROOT = Path(__file__).resolve().parents[1]

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    tomllib = None


def _project():
    if tomllib is None:
        pytest.skip("reading pyproject.toml needs Python 3.11's tomllib")
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _names(requirements):
    return {re.split(r"[<>=!\[ ;]", r, maxsplit=1)[0].lower() for r in requirements}


@pytest.mark.parametrize("extra", ["torch", "mxnet"])
def test_every_install_that_can_verify_has_h5py(extra):
    """verify runs on torch or mxnet; either install reads golden files (h5py)."""
    project = _project()
    assert "h5py" in _names(project["dependencies"] + project["optional-dependencies"][extra])


def test_drawing_and_progress_need_no_extra():
    assert {"graphviz", "tqdm"} <= _names(_project()["dependencies"])


def _set_up_commands():
    """The indented command lines of README's "Set up" section, in order."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## Set up", 1)[1].split("\n## ", 1)[0]
    return [line.strip() for line in section.splitlines() if line.startswith("    ")]


def test_readme_first_command_installs_what_the_second_needs():
    first, second = _set_up_commands()[:2]
    assert "pytest" in second
    installs = [shlex.split(part) for part in first.split("&&") if "pip install" in part]
    extras = set()
    for words in installs:
        for word in words:
            match = re.match(r"^\.\[(.*)\]$", word)
            if match:
                extras.update(match.group(1).split(","))
    optional = _project()["optional-dependencies"]
    needed = set().union(*(_names(optional[e]) for e in extras))
    # What the test suite imports at collection time, beyond the base dependencies.
    assert {"pytest", "hypothesis", "h5py", "safetensors", "torch", "onnx"} <= needed


def test_readme_documents_every_command():
    text = (ROOT / "README.md").read_text()
    for command in ("resnet-gen prototxt", "resnet-gen solver", "resnet-gen mxnet",
                    "resnet-convert caffe2torch", "resnet-convert caffe2mxnet",
                    "resnet-convert verify", "resnet-convert info", "resnet-convert draw",
                    "resnet-convert golden", "--caffe", "--plot", "--quiet", "--draw"):
        assert command in text, command


def test_help_has_examples_and_debug(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "examples:" in out and "resnet-convert caffe2torch" in out
    assert "--debug" in out and "--quiet" in out
    for command in ("caffe2torch", "caffe2mxnet", "verify", "info", "draw", "golden"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        assert "--debug" in capsys.readouterr().out, command


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("edges")
    net = build(n=1)
    net.validate()
    weights = random_weights(net, scale=0.2)
    path = folder / "r8.caffemodel"
    write_caffemodel(net, weights, path)
    x = np.random.default_rng(3).standard_normal((2, 3, 32, 32)).astype(np.float32)
    return path, net, weights, torch.from_numpy(x)


@pytest.mark.parametrize("outputs", [["fc10"], ["fc10", "prob"]])
def test_one_output_is_a_tensor_everywhere(model, outputs, tmp_path, capsys):
    path, net, weights, x = model
    flag = ["--outputs", ",".join(outputs)]
    assert main(["caffe2torch", str(path), "-o", str(tmp_path / "m.pt2")] + flag) == 0
    assert main(["caffe2torch", str(path), "-o", str(tmp_path / "m.safetensors")] + flag) == 0
    results = {"pt2": torch.export.load(str(tmp_path / "m.pt2")).module()(x),
               "safetensors": load_torch(tmp_path / "m.safetensors")[0](x),
               "api": to_torch(net, weights, outputs=outputs[0] if len(outputs) == 1
                               else outputs)(x)}
    for where, got in results.items():
        if len(outputs) == 1:
            assert isinstance(got, torch.Tensor), where
        else:
            assert isinstance(got, tuple) and len(got) == 2, where


def test_pt2_inner_folder_is_named_after_the_file(model, tmp_path, capsys):
    path = model[0]
    out = tmp_path / "resnet50.pt2"
    assert main(["caffe2torch", str(path), "-o", str(out)]) == 0
    folders = {name.split("/", 1)[0] for name in zipfile.ZipFile(out).namelist()}
    assert folders == {"resnet50"}
    assert not list(tmp_path.glob(".*"))  # no temporary file or folder left behind


def test_pt2_entries_stay_aligned_for_memory_mapping(model, tmp_path, capsys):
    out = tmp_path / "m.pt2"
    assert main(["caffe2torch", str(model[0]), "-o", str(out)]) == 0
    with zipfile.ZipFile(out) as archive:
        for entry in archive.infolist():
            start = (entry.header_offset + 30 + len(entry.filename.encode()) +
                     len(entry.extra))
            assert start % 64 == 0, entry.filename


def test_verify_without_h5py_is_one_line(model, monkeypatch, capsys):
    """A hand-made environment without h5py: one line saying what to install."""
    monkeypatch.setitem(sys.modules, "h5py", None)  # import h5py now raises ImportError
    golden = ROOT / "golden" / "cifar_n3_A.h5"
    assert main(["verify", str(model[0]), "--golden", str(golden)]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "resnet-convert: error: reading golden files needs h5py: pip install h5py"
