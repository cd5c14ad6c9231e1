"""Measure the float32 floor of every golden case, to justify the parity tolerances.

For each golden file: run the converted net in float32 and in float64 (PyTorch, CPU) and
report, over all compared blobs, the worst blob-scale relative error (max |a - b| / max |b|)
of float32-vs-Caffe, float64-vs-Caffe (Caffe's own float32 rounding) and
float32-vs-float64 (ours). Usage: python tools/parity_floor.py [golden/*.h5]
"""

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from golden_support import GOLDEN_FILES, load_golden_case  # noqa: E402
from converter.verify import compare, run_torch  # noqa: E402


def worst(report):
    """Largest relative error among compared blobs."""
    return max((r.rel for r in report.rows if r.kind in ("full", "signature")), default=0.0)


def measure(path, tmp):
    golden, net, weights = load_golden_case(path, Path(tmp))
    inputs = {n: golden.inputs[n] for n in net.input_blobs()}
    f32 = run_torch(net, weights, inputs)
    f64 = run_torch(net, weights, inputs, dtype="float64")
    ref64 = dict(golden.blobs)
    vs_caffe32 = worst(compare(golden, f32, atol=0, rtol=1))
    vs_caffe64 = worst(compare(golden, f64, atol=0, rtol=1))
    golden.blobs = {k: f64[k] for k in golden.blobs if k in f64}
    ours = worst(compare(golden, f32, atol=0, rtol=1)) if golden.blobs else float("nan")
    golden.blobs = ref64
    return vs_caffe32, vs_caffe64, ours


def main(argv):
    paths = [Path(p) for p in argv] or GOLDEN_FILES
    print(f"{'case':<30} {'f32 vs Caffe':>13} {'f64 vs Caffe':>13} {'f32 vs f64':>11}")
    for path in paths:
        with tempfile.TemporaryDirectory() as tmp:
            try:
                row = measure(path, tmp)
            except BaseException as exc:  # report and go on: a table of every case
                print(f"{path.stem:<30} error: {exc}")
                continue
        print(f"{path.stem:<30} {row[0]:>13.2e} {row[1]:>13.2e} {row[2]:>11.2e}")


if __name__ == "__main__":
    main(sys.argv[1:])
