"""Running exported nets in real Caffe (the chroot of tools/caffe-env.sh) from tests.

:func:`require_caffe` skips without root and the chroot, unless CI demands real Caffe
(RESNET_CONVERT_REQUIRE_CAFFE=1); :func:`caffe_forward` runs tools/caffe_forward.py on a
prototxt + caffemodel and returns the blobs Caffe computed; :func:`make_golden` records a golden
file of a net with its own weights.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Dict

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROOT = Path(os.environ.get("CAFFE_CHROOT", "/var/tmp/resnet-convert-caffe"))


def require_caffe() -> None:
    """Skip (or, in CI, fail) when real Caffe cannot run here."""
    if (CHROOT / ".resnet-convert-ready").exists() and os.geteuid() == 0:
        return
    if os.environ.get("RESNET_CONVERT_REQUIRE_CAFFE") == "1":
        pytest.fail(f"real Caffe required but the chroot is not ready: {CHROOT}")
    pytest.skip("needs root and the Caffe chroot (bash tools/caffe-env.sh)")


def caffe_forward(prototxt, caffemodel, inputs: Dict[str, np.ndarray],
                  all_blobs: bool = True, names=None) -> Dict[str, np.ndarray]:
    """Run the net in real Caffe on ``inputs``; the ``names`` blobs, else every blob (or
    only the outputs)."""
    folder = Path(caffemodel).resolve().parent
    in_path, out_path = folder / "caffe_in.npz", folder / "caffe_out.npz"
    np.savez(in_path, **{k: np.ascontiguousarray(v, np.float32) for k, v in inputs.items()})
    env = dict(os.environ, CAFFE_RUN_BIND=f"{os.environ.get('CAFFE_RUN_BIND', '')} {folder}")
    args = ["sh", str(ROOT / "tools" / "caffe-run.sh"), str(ROOT / "tools" / "caffe_forward.py"),
            str(Path(prototxt).resolve()), str(Path(caffemodel).resolve()), str(in_path),
            str(out_path)]
    args += ["--blobs", *names] if names else (["--all"] if all_blobs else [])
    run = subprocess.run(args, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, timeout=900)
    assert run.returncode == 0, run.stdout.decode(errors="replace")[-3000:]
    with np.load(out_path) as data:
        return {k: data[k] for k in data.files}


def make_golden(prototxt, caffemodel, out_dir, name: str) -> Path:
    """A golden file of the net with its own weights, made by real Caffe
    (tools/make_golden.py --weights); returns ``out_dir/<name>.h5``."""
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)  # bind-mounted into the chroot: must exist
    folders = {out_dir, Path(prototxt).resolve().parent, Path(caffemodel).resolve().parent}
    bind = " ".join([os.environ.get("CAFFE_RUN_BIND", "")] + [str(f) for f in folders])
    args = ["sh", str(ROOT / "tools" / "caffe-run.sh"), str(ROOT / "tools" / "make_golden.py"),
            "--prototxt", str(Path(prototxt).resolve()), "--weights",
            str(Path(caffemodel).resolve()), "--name", name, "--out", str(out_dir)]
    run = subprocess.run(args, cwd=ROOT, env=dict(os.environ, CAFFE_RUN_BIND=bind),
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=900)
    assert run.returncode == 0, run.stdout.decode(errors="replace")[-3000:]
    found = list(out_dir.rglob(name + ".h5"))
    assert len(found) == 1, found
    return found[0]


def rel_error(a, b) -> float:
    """Blob-scale relative error: max |a - b| / max |b| (as verify and parity_floor use)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    assert a.shape == b.shape, (a.shape, b.shape)
    scale = float(np.max(np.abs(b))) or 1.0
    return float(np.max(np.abs(a - b))) / scale
