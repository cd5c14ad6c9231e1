"""Conversion benchmark: ResNet-50/152 caffemodels -> safetensors, .pt2, MXNet.

For each model and format it measures, in one run of this script:

* the floor: read the file's bytes (from page cache), ``NetParameter.ParseFromString`` with
  the project's protobuf classes, and turn every blob into an owned float32 numpy array
  (``np.frombuffer`` over the packed values, copied out of the file buffer; the
  ``np.array(blob.data)`` variant is shown too). Nothing of the converter is used;
* in-process wall time: ``converter.convert.caffe2torch`` / ``caffe2mxnet`` in a child Python
  that has already imported everything and converted once (warm-up);
* whole-process wall time and peak RSS of the CLI (``/usr/bin/time -v resnet-convert ...``);
* ``python -c pass`` and ``python -c "import torch"``.

Medians of ``--runs`` runs (>= 5), the load average next to each measurement. Prints Markdown
and, with ``--json``, writes the raw numbers.

    python bench/bench_convert.py [--dir /var/tmp/resnet-bench] [--runs 5]
        [--depths 50,152] [--formats safetensors,pt2,mxnet] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchlib import load

PY = sys.executable
BIN = Path(PY).parent
SUFFIX = {"safetensors": ".safetensors", "pt2": ".pt2", "mxnet": ""}

# ------------------------------------------------------------------ floor

FLOOR_CODE = r'''
import json, sys, time
import numpy as np
from converter.caffe.proto import NetParameter

def packed_values(buf):
    """(offset, nbytes, dtype) of every BlobProto.data/double_data in a caffemodel, by a
    minimal walk of the wire format (NetParameter.layer(100)/layers(2) -> blobs(7/6))."""
    def varint(p):
        v = s = 0
        while True:
            b = buf[p]; p += 1; v |= (b & 0x7F) << s
            if b < 0x80: return v, p
            s += 7
    def fields(p, end):
        while p < end:
            key, p = varint(p); wire = key & 7
            if wire == 0: _, q = varint(p); yield key >> 3, wire, p, q; p = q
            elif wire == 1: yield key >> 3, wire, p, p + 8; p += 8
            elif wire == 5: yield key >> 3, wire, p, p + 4; p += 4
            elif wire == 2:
                n, p = varint(p); yield key >> 3, wire, p, p + n; p += n
            else: raise ValueError("group")
    out = []
    for num, wire, a, b in fields(0, len(buf)):
        if num in (100, 2) and wire == 2:
            for n2, w2, a2, b2 in fields(a, b):
                if n2 == (7 if num == 100 else 6) and w2 == 2:
                    for n3, w3, a3, b3 in fields(a2, b2):
                        if n3 in (5, 8) and w3 == 2:
                            out.append((a3, b3 - a3, "<f4" if n3 == 5 else "<f8"))
    return out

path, runs = sys.argv[1], int(sys.argv[2])
res = {"read": [], "parse": [], "numpy": [], "numpy_array": [], "scan": []}
for _ in range(runs + 1):
    t0 = time.perf_counter()
    with open(path, "rb") as f:
        data = f.read()
    t1 = time.perf_counter()
    net = NetParameter(); net.ParseFromString(data)
    t2 = time.perf_counter()
    where = packed_values(memoryview(data))
    t3 = time.perf_counter()
    arrays = [np.frombuffer(data, dt, n // int(dt[-1]), off).astype(np.float32, copy=True)
              for off, n, dt in where]
    t4 = time.perf_counter()
    del arrays
    arrays = [np.array(b.data, np.float32) for l in (net.layer or net.layers) for b in l.blobs]
    t5 = time.perf_counter()
    del arrays, net, data
    for k, v in zip(("read", "parse", "scan", "numpy", "numpy_array"),
                    (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4)):
        res[k].append(v)
print(json.dumps({k: v[1:] for k, v in res.items()}))  # first run warms the page cache
'''

INPROC_CODE = r'''
import json, os, shutil, sys, time
import torch
from converter.convert import Options, caffe2mxnet, caffe2torch
model, out, fmt, runs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
if fmt == "mxnet":
    import mxnet  # noqa: F401  (imported before timing, like torch)
def clean():
    for p in ([out] if fmt != "mxnet" else
              [out + s for s in ("-symbol.json", "-0000.params", "-preprocess.json")]):
        if os.path.exists(p):
            os.unlink(p)
times = []
for i in range(runs + 1):
    clean()
    t = time.perf_counter()
    if fmt == "mxnet":
        caffe2mxnet(model, out, Options())
    else:
        caffe2torch(model, out, Options())
    times.append(time.perf_counter() - t)
clean()
print(json.dumps(times[1:]))  # the first run is the warm-up
'''


def load1() -> float:
    return os.getloadavg()[0]


def median(xs):
    return statistics.median(xs)


def run_json(code: str, *args: str):
    res = subprocess.run([PY, "-c", code, *map(str, args)], capture_output=True, text=True)
    if res.returncode:
        raise SystemExit(f"child failed:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def timed(argv, runs: int, env=None, warmup: bool = True):
    """Wall seconds and peak RSS (KiB) of ``argv`` under GNU time, ``runs`` times (+1 warm-up
    that is discarded)."""
    walls, rss = [], []
    for i in range(runs + 1 if warmup else runs):
        res = subprocess.run(["/usr/bin/time", "-v", *argv], capture_output=True, text=True,
                             env=env)
        if res.returncode:
            raise SystemExit(f"{' '.join(argv)} failed:\n{res.stderr[-3000:]}")
        m = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", res.stderr)
        h, mnt, s = m.groups()
        wall = int(h or 0) * 3600 + int(mnt) * 60 + float(s)
        kib = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", res.stderr).group(1))
        if i or not warmup:
            walls.append(wall)
            rss.append(kib)
    return walls, rss


def precise_wall(argv, runs: int):
    """Wall seconds of ``argv`` with perf_counter (GNU time rounds to 10 ms)."""
    out = []
    for i in range(runs + 1):
        t = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True)
        if i:
            out.append(time.perf_counter() - t)
    return out


def clean_outputs(out: str, fmt: str):
    paths = [out] if fmt != "mxnet" else [out + s for s in
                                          ("-symbol.json", "-0000.params", "-preprocess.json")]
    for p in paths:
        if os.path.exists(p):
            os.unlink(p)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", default="/var/tmp/resnet-bench")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--depths", default="50,152")
    ap.add_argument("--formats", default="safetensors,pt2,mxnet")
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    if not shutil.which("/usr/bin/time"):
        raise SystemExit("GNU time is needed: apt-get install time")
    d = Path(args.dir)
    results = {"runs": args.runs, "python": PY, "models": {}}

    # Interpreter and framework import baselines.
    lo = load()
    results["python_pass"] = precise_wall([PY, "-c", "pass"], args.runs)
    results["import_torch"] = precise_wall([PY, "-c", "import torch"], args.runs)
    results["import_torch_rss_kib"] = median(timed([PY, "-c", "import torch"], args.runs)[1])
    results["baseline_load"] = lo

    for depth in [int(x) for x in args.depths.split(",")]:
        model = d / f"ResNet-{depth}-model.caffemodel"
        if not model.exists():
            raise SystemExit(f"{model} missing: run bench/make_models.py first")
        entry = {"bytes": model.stat().st_size, "formats": {}}
        lo = load()
        entry["floor"] = run_json(FLOOR_CODE, model, args.runs)
        entry["floor_load"] = lo
        for fmt in args.formats.split(","):
            out = str(d / f"out-{depth}{SUFFIX[fmt]}") if fmt != "mxnet" else str(d / f"out-{depth}-mx")
            lo = load()
            inproc = run_json(INPROC_CODE, model, out, fmt, args.runs)
            cmd = ([str(BIN / "resnet-convert"), "caffe2mxnet", str(model), "-o", out]
                   if fmt == "mxnet" else
                   [str(BIN / "resnet-convert"), "caffe2torch", str(model), "-o", out])
            walls, rss = [], []
            for i in range(args.runs + 1):
                clean_outputs(out, fmt)
                w, r = timed(cmd, 1, warmup=False)
                if i:
                    walls += w
                    rss += r
            clean_outputs(out, fmt)
            entry["formats"][fmt] = {"inproc": inproc, "cli_wall": walls, "cli_rss_kib": rss,
                                     "load": lo, "load_after": load()}
            print(f"ResNet-{depth} {fmt}: in-process {median(inproc):.3f} s, CLI "
                  f"{median(walls):.2f} s, {median(rss) / 1024:.0f} MiB (load {lo})",
                  file=sys.stderr, flush=True)
        results["models"][depth] = entry

    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    print(report(results))
    return 0


def report(r) -> str:
    med = statistics.median
    py, imp = med(r["python_pass"]), med(r["import_torch"])
    lines = [f"Baselines (median of {r['runs']}, load {r['baseline_load']}): `python -c pass` "
             f"{py:.3f} s; `python -c \"import torch\"` {imp:.3f} s, "
             f"{r['import_torch_rss_kib'] / 1024:.0f} MiB peak RSS.", ""]
    lines.append("| model | file MB | floor: read + parse + numpy (s) | (np.array(blob.data) instead) "
                 "| load |")
    lines.append("|---|---|---|---|---|")
    for depth, e in r["models"].items():
        f = e["floor"]
        floor = med(f["read"]) + med(f["parse"]) + med(f["scan"]) + med(f["numpy"])
        alt = med(f["read"]) + med(f["parse"]) + med(f["numpy_array"])
        lines.append(f"| ResNet-{depth} | {e['bytes'] / 1e6:.1f} | **{floor:.3f}** = "
                     f"{med(f['read']):.3f} + {med(f['parse']):.3f} + "
                     f"{med(f['scan']) + med(f['numpy']):.3f} | {alt:.3f} | {e['floor_load']} |")
    lines += ["", "| model | format | in-process (s) | / floor | CLI wall (s) | CLI - (python + "
              "import torch) (s) | CLI peak RSS (MB) | / file size | load before, after |",
              "|---|---|---|---|---|---|---|---|---|"]
    for depth, e in r["models"].items():
        f = e["floor"]
        floor = med(f["read"]) + med(f["parse"]) + med(f["scan"]) + med(f["numpy"])
        for fmt, m in e["formats"].items():
            ip, cw, rss = med(m["inproc"]), med(m["cli_wall"]), med(m["cli_rss_kib"]) * 1024
            lines.append(f"| ResNet-{depth} | {fmt} | {ip:.3f} | {ip / floor:.2f}x | {cw:.2f} | "
                         f"{cw - imp:+.2f} | {rss / 1e6:.0f} | {rss / e['bytes']:.2f}x | "
                         f"{m['load']} / {m['load_after']} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
