"""Conversion time against depth: seconds per layer for ResNet-152 and for Conv+ReLU chains of
growing length (bench/make_chain.py), in every output format.

    python bench/bench_scaling.py [--dir /var/tmp/resnet-bench] [--layers 2000,10000,50000]
        [--formats safetensors,pt2,onnx,mxnet] [--json scaling.json]

Each conversion runs in a fresh child Python that imports torch (and mxnet) before the clock
starts, then times ``caffe2torch`` / ``caffe2mxnet`` from the caffemodel to the file(s) on disk
(``time.perf_counter``), and reports its peak RSS. The chains are made first if missing. The
target (issue 19): the longest chain's seconds per layer at most 2x ResNet-152's, per format.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from benchlib import load

ROOT = Path(__file__).resolve().parents[1]
CHILD = r"""
import json, resource, sys, time
fmt, model, out = sys.argv[1:4]
import torch  # noqa: F401  (imported before timing, as in bench_convert.py)
if fmt == "mxnet":
    import mxnet  # noqa: F401
from converter.convert import Options, caffe2mxnet, caffe2torch
from converter.caffe.loader import load_caffe
start = time.perf_counter()
if fmt == "mxnet":
    caffe2mxnet(model, out, Options())
else:
    caffe2torch(model, out + "." + fmt, Options())
seconds = time.perf_counter() - start
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # before the count below reads
layers = sum(1 for l in load_caffe(model, lazy=True)[0].layers if l.type not in ("Input", "Split"))
print(json.dumps({"s": seconds, "layers": layers, "rss_kib": rss}))
"""


def convert(fmt: str, model: Path, folder: Path) -> dict:
    before = load()
    done = subprocess.run([sys.executable, "-c", CHILD, fmt, str(model), str(folder / "out")],
                          capture_output=True, text=True, check=True, cwd=ROOT)
    row = json.loads(done.stdout.strip().splitlines()[-1])
    row["load"] = f"{before} -> {load()}"
    return row


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", default="/var/tmp/resnet-bench")
    ap.add_argument("--layers", default="2000,10000,50000")
    ap.add_argument("--formats", default="safetensors,pt2,onnx,mxnet")
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT / "bench"))
    import make_chain
    models = {"ResNet-152": Path(args.dir) / "ResNet-152-model.caffemodel"}
    for n in [int(x) for x in args.layers.split(",")]:
        path = Path(args.dir) / f"chain-{n}.caffemodel"
        models[f"chain-{n}"] = path if path.exists() else make_chain.make(n, Path(args.dir))
    results = []
    for fmt in args.formats.split(","):
        base = None
        for name, model in models.items():
            with tempfile.TemporaryDirectory() as tmp:
                row = {"model": name, "format": fmt, **convert(fmt, model, Path(tmp))}
            per = row["s"] / row["layers"]
            base = per if base is None else base
            row["ms_per_layer"], row["vs_resnet152"] = per * 1e3, per / base
            results.append(row)
            print(f"{fmt:12} {name:12} {row['layers']:6} layers {row['s']:8.2f} s "
                  f"{row['ms_per_layer']:7.3f} ms/layer ({row['vs_resnet152']:.2f}x ResNet-152's)"
                  f" {row['rss_kib'] / 1024:6.0f} MiB (load {row['load']})", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
