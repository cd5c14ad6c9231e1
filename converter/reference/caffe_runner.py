"""Run a user's model in real BVLC Caffe and bring every blob back.

Two ways to reach a pycaffe: the Debian bullseye chroot that ``caffe-env.sh`` (shipped
beside this module) makes -- created on first use, which needs root and takes minutes once --
or a Python that already imports ``caffe`` (``--caffe-python PATH``). Either way the work is
done by ``pycaffe_forward.py`` in a scratch folder the pycaffe can see; nothing of this
package is imported on the Caffe side. Caffe runs single-threaded (reproducible sums).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np

from ..errors import ConverterError, UsageError

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "pycaffe_forward.py"
ENV_SCRIPT = HERE / "caffe-env.sh"
STAMP = ".resnet-convert-ready"
#: Caffe's reference BLAS and OpenMP pinned to one thread: bit-reproducible results.
THREADS = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "GLOG_minloglevel": "2", "PYTHONDONTWRITEBYTECODE": "1"}
#: A glog FATAL/ERROR line ("F1130 11:22:33.444 1 net.cpp:123] Check failed: ...").
GLOG_LINE = re.compile(r"^[FE]\d{4} [\d:.]+\s+\d+ (\S+\] .*)$")


class CaffeRunError(ConverterError):
    """Real Caffe could not run the model (its own message, on one line)."""


@dataclass
class CaffeRun:
    """What real Caffe computed: every blob in ``net.blobs`` order, and the net's layers."""
    blob_names: List[str]
    blobs: Dict[str, np.ndarray]
    layers: List[Tuple[str, str, List[Tuple[int, ...]]]] = field(default_factory=list)
    caffe_version: str = ""
    prototxt: str = ""

    @property
    def param_count(self) -> int:
        """Caffe's own parameter count: every element of every layer blob (net.params)."""
        return sum(int(np.prod(s)) for _, _, shapes in self.layers for s in shapes)


def chroot_dir() -> Path:
    """Where the reference chroot lives ($CAFFE_CHROOT, else /var/tmp/resnet-convert-caffe)."""
    return Path(os.environ.get("CAFFE_CHROOT", "/var/tmp/resnet-convert-caffe"))


def chroot_ready() -> bool:
    """True if the chroot is set up (its set-up script leaves a stamp file)."""
    return (chroot_dir() / STAMP).exists()


def ensure_chroot() -> Path:
    """Set up the chroot if needed (root only; minutes, once) and return its folder."""
    if os.geteuid() != 0:
        raise UsageError("running real Caffe in its chroot needs root (chroot, mount); run as "
                         "root or give --caffe-python PATH, a Python that imports caffe")
    if not chroot_ready():
        print(f"resnet-convert: setting up real BVLC Caffe 1.0 (Debian bullseye) in "
              f"{chroot_dir()}: a one-time cost of a few minutes and about 1 GB of disk",
              file=sys.stderr)
    run = subprocess.run(["sh", str(ENV_SCRIPT), str(chroot_dir())], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    if run.returncode != 0:
        raise CaffeRunError(f"setting up the Caffe chroot failed: {_last_line(run.stderr)}")
    return chroot_dir()


def _last_line(stderr: bytes) -> str:
    """The line of Caffe's output that says what went wrong (a glog FATAL line, else the
    last non-empty line, e.g. a Python exception)."""
    lines = [l.strip() for l in stderr.decode("utf-8", "replace").splitlines() if l.strip()]
    for line in lines:
        match = GLOG_LINE.match(line)
        if match:
            return match.group(1)
    return lines[-1] if lines else "no message"


def net_prototxt(model, prototxt=None) -> str:
    """The net Caffe should build: the user's prototxt, else the layer definitions stored
    in the caffemodel itself (its blobs removed), as prototxt text."""
    if prototxt is not None:
        from ..caffe.parse import read_bytes
        return read_bytes(prototxt).decode("utf-8", "replace")
    from google.protobuf import text_format
    from ..caffe.reader import read_caffemodel
    netp = read_caffemodel(model)
    for layer in list(netp.layer) + list(netp.layers):
        del layer.blobs[:]
    return text_format.MessageToString(netp)


def _link_or_copy(src, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def _write_job(box: Path, view: str, model, text: str,
               inputs: Optional[Dict[str, np.ndarray]], seed: Optional[int]) -> Path:
    """Fill the scratch folder ``box`` (seen by pycaffe as ``view``) with the job: no
    ``model``, the net is built without weights; no ``inputs``, it is not run."""
    (box / "net.prototxt").write_text(text)
    if model is not None:
        _link_or_copy(model, box / "net.caffemodel")
    shutil.copyfile(SCRIPT, box / SCRIPT.name)
    pairs = []
    for i, (name, array) in enumerate((inputs or {}).items()):
        np.save(box / f"input{i}.npy", np.ascontiguousarray(array, np.float32))
        pairs.append([name, f"{view}/input{i}.npy"])
    job = {"prototxt": f"{view}/net.prototxt",
           "caffemodel": None if model is None else f"{view}/net.caffemodel",
           "inputs": pairs, "blobs": None if inputs is None else f"{view}/blobs.npz",
           "facts": f"{view}/facts.json", "seed": seed}
    (box / "job.json").write_text(json.dumps(job))
    return box / "job.json"


def _command(view: str, caffe_python: Optional[str], root: Optional[Path]) -> List[str]:
    script = [f"{view}/{SCRIPT.name}", f"{view}/job.json"]
    if caffe_python is not None:
        return [caffe_python] + script
    env = [f"{k}={v}" for k, v in THREADS.items()]
    return (["chroot", str(root), "/usr/bin/env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
             "HOME=/root", "LANG=C.UTF-8"] + env + ["python3"] + script)


def run_caffe(model, inputs: Optional[Dict[str, np.ndarray]], prototxt=None,
              caffe_python: Optional[str] = None, seed: Optional[int] = 0) -> CaffeRun:
    """Run ``model`` (a .caffemodel; the net from ``prototxt`` or the model itself) forward in
    real Caffe on ``inputs`` (blob name -> array) and return every blob it computed.
    With ``inputs`` None the net is only built (``model`` may then be None too): the
    result has Caffe's layers and parameter shapes and no blobs."""
    text = net_prototxt(model, prototxt)
    root = None if caffe_python else ensure_chroot()
    parent = root / "tmp" if root is not None else None
    box = Path(tempfile.mkdtemp(prefix="resnet-convert-verify.", dir=parent))
    try:
        view = "/tmp/" + box.name if root is not None else str(box)
        _write_job(box, view, model, text, inputs, seed)
        env = dict(os.environ, **THREADS) if caffe_python else None
        try:
            run = subprocess.run(_command(view, caffe_python, root), stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, env=env)
        except OSError as exc:
            raise UsageError(f"cannot run {caffe_python}: {exc.strerror or exc}") from None
        if run.returncode != 0:
            raise CaffeRunError(f"real Caffe could not run the model: {_last_line(run.stderr)}",
                                file=prototxt or model)
        facts = json.loads((box / "facts.json").read_text())
        names, blobs = facts["blob_names"], {}
        if inputs is not None:
            with np.load(box / "blobs.npz") as data:
                blobs = {n: data[f"b{i}"] for i, n in enumerate(names)}
    finally:
        shutil.rmtree(box, ignore_errors=True)
    layers = [(n, t, [tuple(s) for s in shapes]) for n, t, shapes in facts["layers"]]
    return CaffeRun(names, blobs, layers, facts.get("caffe_version", ""), text)
