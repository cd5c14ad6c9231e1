"""Every generated deploy net loads in real BVLC Caffe and runs with the shapes we infer.

Runs ``tools/gen_caffe_check.py`` (our nets + expected output shapes and learnable parameter
counts) and ``tools/check-caffe-load.sh`` (real Caffe in the bullseye chroot). Needs root and
the chroot from ``tools/caffe-env.sh``; skips without them unless CI demands real Caffe
(RESNET_CONVERT_REQUIRE_CAFFE=1). For option A the counts are the paper's Table 6.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROOT = Path(os.environ.get("CAFFE_CHROOT", "/var/tmp/resnet-convert-caffe"))
TABLE6 = {3: 0.27, 5: 0.46, 7: 0.66, 9: 0.85, 18: 1.7}  # millions, option A


def require_caffe():
    ready = (CHROOT / ".resnet-convert-ready").exists() and os.geteuid() == 0
    if not ready:
        if os.environ.get("RESNET_CONVERT_REQUIRE_CAFFE") == "1":
            pytest.fail(f"real Caffe required but the chroot is not ready: {CHROOT}")
        pytest.skip("needs root and the Caffe chroot (bash tools/caffe-env.sh)")


@pytest.mark.caffe
@pytest.mark.slow
def test_generated_nets_run_in_real_caffe(tmp_path):
    require_caffe()
    subprocess.run([sys.executable, str(ROOT / "tools" / "gen_caffe_check.py"), str(tmp_path)],
                   check=True, cwd=ROOT)
    expected = json.loads((tmp_path / "expected.json").read_text())
    for n, millions in TABLE6.items():  # the paper gives two significant digits
        count = expected[f"cifar-n{n}-A.prototxt"]["learnable_params"]
        assert f"{count / 1e6:.2g}" == f"{millions:.2g}", (n, count)
    run = subprocess.run(["sh", str(ROOT / "tools" / "check-caffe-load.sh"),
                          str(tmp_path / "expected.json"), "--report",
                          str(tmp_path / "report.json")],
                         cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    output = run.stdout.decode(errors="replace")
    print(output)
    assert run.returncode == 0, output[-4000:]
    assert len(expected) >= 30
