"""Train anywhere, deploy anywhere, shortened: ``tools/train-digits.sh --quick``.

A generated ResNet-20 trained by real BVLC Caffe and the generated MXNet-example CIFAR ResNet
(``resnet-gen mxnet --train``) trained by MXNet, 3 epochs each on the digits split; each
trained model is then run by every other framework and by the standalone PyTorch code of
``caffe2torch -o model.py``. Asserts that training works (the loss falls, test accuracy above 80%) and that
every framework gives the same top-1 class on all 360 test images, with probabilities within
four times the float32 floor (tools/digits_report.py). The full run (docs/training.md) is the
same script without --quick. Needs root and the Caffe chroot, mxnet, torch, scikit-learn and
lmdb; under RESNET_CONVERT_REQUIRE_CAFFE=1 (CI) a missing piece fails instead of skipping.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROOT = Path(os.environ.get("CAFFE_CHROOT", "/var/tmp/resnet-convert-caffe"))
NEEDS = ("sklearn", "lmdb", "mxnet", "torch")
MIN_ACCURACY = 0.8


def require_everything():
    missing = [m for m in NEEDS if importlib.util.find_spec(m) is None]
    if not ((CHROOT / ".resnet-convert-ready").exists() and os.geteuid() == 0):
        missing.append(f"root and the Caffe chroot {CHROOT}")
    if missing:
        if os.environ.get("RESNET_CONVERT_REQUIRE_CAFFE") == "1":
            pytest.fail(f"the training test needs: {', '.join(missing)}")
        pytest.skip(f"needs {', '.join(missing)}")


def check_model(result, frameworks):
    """Loss falls, every framework above MIN_ACCURACY, same top-1, within the floor."""
    curve = result["curve"]
    assert curve[-1]["train_loss"] < curve[0]["train_loss"], curve
    assert sorted(result["accuracy"]) == sorted(frameworks)
    for framework, accuracy in result["accuracy"].items():
        assert accuracy > MIN_ACCURACY, (framework, accuracy)
    for pair, row in result["pairs"].items():
        assert row["top1_differ"] == 0, (pair, row)
        assert row["within_floor"], (pair, row, result["float32_floor"])


@pytest.mark.caffe
@pytest.mark.mxnet
@pytest.mark.slow
@pytest.mark.training
def test_quick_training_in_caffe_and_mxnet(tmp_path):
    require_everything()
    env = dict(os.environ, PYTHON=sys.executable,
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    run = subprocess.run(["sh", str(ROOT / "tools" / "train-digits.sh"), "--quick",
                          str(tmp_path)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, check=False)
    output = run.stdout.decode(errors="replace")
    print(output)
    assert run.returncode == 0, output[-4000:]
    results = json.loads((tmp_path / "results.json").read_text())
    everywhere = ("caffe", "torch", "model.py", "mxnet")
    check_model(results["trained_in_caffe"], everywhere)
    check_model(results["trained_in_mxnet"], everywhere)
