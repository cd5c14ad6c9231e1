"""CUDA parity of the converted nets with the real-Caffe golden files: a short table.

Runs the PyTorch back end on the GPU (TF32 off: full float32 arithmetic) for the given golden
cases and compares every blob with the golden files' own per-channel tolerances (the ones
``resnet-convert verify`` applies). Exit 1 if any case diverges, naming the first blob.
Usage: python3 tools/gpu_parity.py [--device cuda] [CASE ...]   (default: ResNet-50/152, CIFAR)
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from golden_support import GOLDEN_DIR, load_golden_case  # noqa: E402
from converter.verify import compare, run_torch  # noqa: E402

DEFAULT = ["kaiming_resnet50", "kaiming_resnet152", "cifar_n9_A", "cifar_mxnet_n9"]


def check(case, device):
    """One table row: (case, blobs compared, worst relative error, first failure, seconds)."""
    with tempfile.TemporaryDirectory() as tmp:
        golden, net, weights = load_golden_case(GOLDEN_DIR / f"{case}.h5", Path(tmp))
        start = time.perf_counter()
        inputs = {n: golden.inputs[n] for n in net.input_blobs()}
        report = compare(golden, run_torch(net, weights, inputs, device=device))
        took = time.perf_counter() - start
    worst = max((r.rel for r in report.rows if r.kind in ("full", "signature")), default=0.0)
    first = report.first_failure
    return case, report.compared, worst, first.name if first else "-", took


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("cases", nargs="*", default=DEFAULT)
    args = parser.parse_args(argv)
    import torch
    if args.device.startswith("cuda"):
        if not torch.cuda.is_available():
            print("no CUDA device visible to torch", file=sys.stderr)
            return 2
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        print(f"torch {torch.__version__}, {torch.cuda.get_device_name(0)}")
    print(f"{'case':<22} {'blobs':>5} {'worst rel err':>14} {'first failure':<20} {'s':>6}")
    failed = 0
    for case in args.cases:
        name, blobs, worst, first, took = check(case, args.device)
        failed += first != "-"
        print(f"{name:<22} {blobs:>5} {worst:>14.2e} {first:<20} {took:>6.2f}")
    print("PASS" if not failed else f"FAIL: {failed} case(s) diverge")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
