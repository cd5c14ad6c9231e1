"""Export speed: ``caffe2torch -o X.pt2`` / ``.onnx`` (the whole job) against torchvision's own
``torch.export`` + ``torch.export.save`` / ``torch.onnx.export(dynamo=True)`` of the same depth.

Run it in the venv that has torchvision (see RESULTS.md), so both sides use the same torch:

    /work/bench-venvs/tv/bin/python bench/bench_export.py [--dir /var/tmp/resnet-bench]
        [--depths 50,152] [--formats pt2,onnx] [--runs 3] [--fold-bn] [--json export.json]

Ours: ``converter.convert.caffe2torch(model, out)`` in this process, from the caffemodel
(bench/make_models.py) to the file on disk, reading and building included. torchvision's:
``resnetN()`` with random weights (built outside the timing), ``eval()``, then export with a
dynamic batch (the same ``Dim("batch", min=1, max=65536)``) and save to a file. Each pair runs
interleaved (ours, torchvision, ours, ...) after one thrown-away warm-up of each; medians, with
the load average before and after each run. ``--threads`` sets torch's intra-op threads.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch

from benchlib import load


def ours(model: Path, out: Path, fold_bn: bool = False) -> None:
    from converter.convert import Options, caffe2torch
    if out.exists():
        out.unlink()
    caffe2torch(str(model), str(out), Options(fold_bn=fold_bn))


def torchvision_job(depth: int, fmt: str, out: Path):
    """A callable that exports torchvision's resnet{depth} (built once, here) to ``out``."""
    import torchvision
    net = getattr(torchvision.models, f"resnet{depth}")().eval()
    x = torch.randn(2, 3, 224, 224)
    batch = torch.export.Dim("batch", min=1, max=65536)

    def run() -> None:
        if fmt == "pt2":
            program = torch.export.export(net, (x,), dynamic_shapes=({0: batch},))
            buffer = io.BytesIO()  # as ours does: to memory, then to the file
            torch.export.save(program, buffer)
            out.write_bytes(buffer.getvalue())
        else:
            torch.onnx.export(net, (x,), str(out), input_names=["data"], dynamo=True,
                              dynamic_shapes=({0: batch},))
    return run


def timed(fn) -> dict:
    before = load()
    start = time.perf_counter()
    fn()
    return {"s": time.perf_counter() - start, "load": f"{before} -> {load()}"}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", default="/var/tmp/resnet-bench")
    ap.add_argument("--depths", default="50,152")
    ap.add_argument("--formats", default="pt2,onnx")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--fold-bn", action="store_true",
                    help="convert with --fold-bn (BatchNorm + Scale folded into the convolutions)")
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    results = {"torch": torch.__version__, "threads": args.threads, "runs": args.runs,
               "fold_bn": args.fold_bn, "cases": []}
    with tempfile.TemporaryDirectory() as tmp:
        for depth in [int(d) for d in args.depths.split(",")]:
            model = Path(args.dir) / f"ResNet-{depth}-model.caffemodel"
            for fmt in args.formats.split(","):
                a, b = Path(tmp) / f"ours.{fmt}", Path(tmp) / f"tv.{fmt}"
                jobs = {"ours": lambda: ours(model, a, args.fold_bn),
                        "torchvision": torchvision_job(depth, fmt, b)}
                runs = {k: [] for k in jobs}
                for i in range(args.runs + 1):
                    for name, job in jobs.items():
                        r = timed(job)
                        if i:  # the first round warms up
                            runs[name].append(r)
                med = {k: statistics.median(r["s"] for r in v) for k, v in runs.items()}
                case = {"depth": depth, "format": fmt, "runs": runs, "median_s": med,
                        "ratio": med["ours"] / med["torchvision"],
                        "bytes": {"ours": a.stat().st_size, "torchvision": b.stat().st_size}}
                results["cases"].append(case)
                print(f"ResNet-{depth} {fmt}: ours {med['ours']:.2f} s, torchvision "
                      f"{med['torchvision']:.2f} s, ratio {case['ratio']:.2f}x "
                      f"(load {runs['ours'][-1]['load']})", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
