"""Measure the float32 floor of every golden case, to justify the parity tolerances.

For each golden file: run the converted net in float32 and in float64 (PyTorch, CPU) and
report, over all compared blobs, the worst blob-scale relative error (max |a - b| / max |b|)
of float32-vs-Caffe, float64-vs-Caffe (Caffe's own float32 rounding) and
float32-vs-float64 (ours). The parity tolerance of a case is four times the larger of the
first two, rounded up to 1/2/5 x 10^k (at least 1e-6); the same rule gives every blob its
own tolerance from its own floor, so early blobs are held to ~1e-6 even in deep nets. Usage: python tools/parity_floor.py [--write] [G.h5...]
(``--write`` records the table in tests/parity_tolerances.json).
"""

import json
import math
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from golden_support import GOLDEN_FILES, load_golden_case  # noqa: E402
from converter.verify import compare, run_torch  # noqa: E402


def errors(report):
    """Blob -> relative error, for the compared blobs."""
    return {r.name: r.rel for r in report.rows if r.kind in ("full", "signature")}


def measure(path, tmp):
    """Per-blob floors (max of f32-vs-Caffe and f64-vs-Caffe) and the three case maxima."""
    golden, net, weights = load_golden_case(path, Path(tmp))
    inputs = {n: golden.inputs[n] for n in net.input_blobs()}
    f32 = run_torch(net, weights, inputs)
    f64 = run_torch(net, weights, inputs, dtype="float64")
    vs_caffe32 = errors(compare(golden, f32, atol=0, rtol=1))
    vs_caffe64 = errors(compare(golden, f64, atol=0, rtol=1))
    golden.blobs = {k: f64[k] for k in golden.blobs if k in f64}
    ours = errors(compare(golden, f32, atol=0, rtol=1)) if golden.blobs else {}
    floors = {k: max(v, vs_caffe64.get(k, 0.0)) for k, v in vs_caffe32.items()}
    row = [max(d.values(), default=0.0) for d in (vs_caffe32, vs_caffe64, ours)]
    return floors, row


def tolerance(floor):
    """Four times the floor, rounded up to 1, 2 or 5 times a power of ten (at least 1e-6)."""
    target = max(4 * floor, 1e-6)
    exponent = math.floor(math.log10(target))
    for mantissa in (1, 2, 5, 10):
        if mantissa * 10.0 ** exponent >= target * (1 - 1e-9):
            return float(f"{mantissa * 10.0 ** exponent:.0e}")


def main(argv):
    write = "--write" in argv
    paths = [Path(p) for p in argv if p != "--write"] or GOLDEN_FILES
    table = {}
    print(f"{'case':<30} {'f32 vs Caffe':>13} {'f64 vs Caffe':>13} {'f32 vs f64':>11} {'rtol':>7}")
    for path in paths:
        with tempfile.TemporaryDirectory() as tmp:
            try:
                floors, row = measure(path, tmp)
            except BaseException as exc:  # report and go on: a table of every case
                print(f"{path.stem:<30} error: {exc}")
                continue
        rtol = tolerance(max(row[0], row[1]))
        table[path.stem] = {"atol": 1e-6, "rtol": rtol,
                            "floor_f32_vs_caffe": float(f"{row[0]:.3g}"),
                            "floor_f64_vs_caffe": float(f"{row[1]:.3g}"),
                            "blob_rtol": {k: tolerance(v) for k, v in floors.items()}}
        print(f"{path.stem:<30} {row[0]:>13.2e} {row[1]:>13.2e} {row[2]:>11.2e} {rtol:>7.0e}")
    if write:
        out = ROOT / "tests" / "parity_tolerances.json"
        out.write_text(json.dumps(table, indent=1, sort_keys=True) + "\n")
        print(f"wrote {out}")


if __name__ == "__main__":
    main(sys.argv[1:])
