"""Whole published nets (golden group "nets"): their caffemodels as real Caffe saved them,
converted alone (no prototxt), match Caffe's forward pass.

The golden files of VGG-16 and SqueezeNet 1.1 carry no caffemodel (176 MB and 5 MB); the
parity tests rebuild their weights from the seed. Here the chroot makes the caffemodel with
Caffe itself (``make_golden.py --caffemodel-dir``, the same seeded weights) into a temporary
folder, and that file alone goes through the converter.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from golden_support import GOLDEN_DIR, ROOT
from test_parity import assert_parity

CHROOT = os.environ.get("CAFFE_CHROOT", "/var/tmp/resnet-convert-caffe")
NETS = ["nets_squeezenet11", "nets_vgg16"]


def caffe_available():
    ready = os.path.exists(os.path.join(CHROOT, ".resnet-convert-ready"))
    return hasattr(os, "geteuid") and os.geteuid() == 0 and ready


def caffe_saved_model(case: str, tmp: Path) -> Path:
    """The case's caffemodel written by real Caffe (net.save) into ``tmp``."""
    env = dict(os.environ, CAFFE_RUN_BIND=str(tmp))
    subprocess.run([str(ROOT / "tools" / "caffe-run.sh"), str(ROOT / "tools" / "make_golden.py"),
                    "--case", case, "--out", str(tmp / "golden"), "--caffemodel-dir", str(tmp)],
                   cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    return tmp / f"{case}.caffemodel"


@pytest.mark.caffe
@pytest.mark.slow
@pytest.mark.parametrize("case", NETS)
def test_caffe_saved_net_converts_alone(case, tmp_path):
    if not caffe_available():
        if os.environ.get("RESNET_CONVERT_REQUIRE_CAFFE") == "1":
            pytest.fail("Caffe chroot required but not ready: %s" % CHROOT)
        pytest.skip("needs root and the chroot from tools/caffe-env.sh")
    from converter.caffe.loader import load_caffe
    from converter.golden import read_golden
    from converter.verify import run_torch
    golden = read_golden(GOLDEN_DIR / f"{case}.h5")
    model = caffe_saved_model(case, tmp_path)
    net, weights = load_caffe(model)
    inputs = {n: golden.inputs[n] for n in net.input_blobs()}
    assert_parity(golden, run_torch(net, weights, inputs), "torch")

