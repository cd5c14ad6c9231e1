"""MMdnn 0.3.1's Caffe -> IR -> PyTorch pipeline on the same caffemodels, timed like ours.

MMdnn lives in its own venv (default /work/bench-venvs/mmdnn: Python 3.7, mmdnn==0.3.1,
protobuf==3.20.3 with its C++ back end, numpy<1.22, six). Its three steps:

1. ``mmtoir -f caffe -n DEPLOY.prototxt -w MODEL.caffemodel -o ir``  (Caffe -> IR .pb/.npy)
2. ``mmtocode -f pytorch -n ir.pb -w ir.npy -d kit.py -dw kit.npy``  (IR -> PyTorch code)
3. ``mmtomodel -f pytorch -in kit.py -iw kit.npy -o model.pth``: builds ``KitModel(kit.npy)``
   and ``torch.save``s it. PyPI has no CPU torch for Python 3.7 here, so this step runs
   MMdnn's saver code (``mmdnn/conversion/pytorch/saver.py``, three lines) verbatim with the
   torch venv's Python (default /work/bench-venvs/tv, torch 2.14.1).

Each step runs under ``/usr/bin/time -v`` (wall, peak RSS); medians of ``--runs``. The import
cost of each step (interpreter + MMdnn/protobuf/numpy, or torch) is measured with a child
that only imports, so "conversion work" excludes it, as for ours.

    python bench/bench_mmdnn.py [--dir /var/tmp/resnet-bench] [--runs 5] [--depths 50,152]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_convert import load, timed  # noqa: E402

SAVER = r'''
import importlib.util, sys, torch
code, weights, out = sys.argv[1:4]
# MMdnn's code copies (1, 1, 1, N) arrays (biases, BN statistics) into (N,) tensors, which
# torch >= 1.0 refuses ("output with shape [64] doesn't match the broadcast shape
# [1, 1, 1, 64]"): reshape each source to its target's shape, nothing else changes.
import re, types
text = re.sub(r"layer\.state_dict\(\)\['(\w+)'\]\.copy_\(torch\.from_numpy\((.*)\)\)$",
              r"layer.state_dict()['\1'].copy_(torch.from_numpy(\2)"
              r".reshape(layer.state_dict()['\1'].shape))", open(code).read(), flags=re.M)
MainModel = types.ModuleType("MainModel"); MainModel.__file__ = code
sys.modules["MainModel"] = MainModel  # as imp.load_source does, so torch.save can pickle
exec(compile(text, code, "exec"), MainModel.__dict__)
# mmdnn/conversion/pytorch/saver.py, verbatim:
model = MainModel.KitModel(weights)
model.eval()
torch.save(model, out)
'''

IMPORTS_IR = ("import numpy, google.protobuf, mmdnn.conversion._script.convertToIR, "
              "mmdnn.conversion.caffe.transformer, mmdnn.conversion.caffe.graph")
IMPORTS_CODE = "import numpy, mmdnn.conversion._script.IRToCode, mmdnn.conversion.pytorch.pytorch_emitter"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", default="/var/tmp/resnet-bench")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--depths", default="50,152")
    ap.add_argument("--mmdnn", default="/work/bench-venvs/mmdnn")
    ap.add_argument("--torch-venv", default="/work/bench-venvs/tv")
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    mm, tv = Path(args.mmdnn) / "bin", Path(args.torch_venv) / "bin"
    d = Path(args.dir)
    work = d / "mmdnn-work"
    work.mkdir(exist_ok=True)
    med = statistics.median
    res = {"runs": args.runs, "imports": {}, "models": {}}
    lo = load()
    res["imports"]["ir"] = timed([str(mm / "python"), "-c", IMPORTS_IR], args.runs)
    res["imports"]["code"] = timed([str(mm / "python"), "-c", IMPORTS_CODE], args.runs)
    res["imports"]["torch"] = timed([str(tv / "python"), "-c", "import torch"], args.runs)
    res["imports"]["load"] = lo
    for depth in [int(x) for x in args.depths.split(",")]:
        model = d / f"ResNet-{depth}-model.caffemodel"
        proto = d / f"ResNet-{depth}-deploy.prototxt"
        if not proto.exists():
            os.system(f"{Path(sys.executable).parent / 'resnet-gen'} prototxt --depth {depth} "
                      f"-o {proto}")
        ir, kit, pth = work / f"r{depth}", work / f"kit{depth}", work / f"r{depth}.pth"
        steps = {
            "toIR": [str(mm / "mmtoir"), "-f", "caffe", "-n", str(proto), "-w", str(model),
                     "-o", str(ir)],
            "toCode": [str(mm / "mmtocode"), "-f", "pytorch", "-n", f"{ir}.pb", "-w",
                       f"{ir}.npy", "-d", f"{kit}.py", "-dw", f"{kit}.npy"],
            "toModel": [str(tv / "python"), "-c", SAVER, f"{kit}.py", f"{kit}.npy", str(pth)],
        }
        entry = {"bytes": model.stat().st_size, "steps": {}}
        for name, cmd in steps.items():
            lo = load()
            walls, rss = timed(cmd, args.runs, env={**os.environ, "PYTHONWARNINGS": "ignore"})
            entry["steps"][name] = {"wall": walls, "rss_kib": rss, "load": lo}
            print(f"MMdnn ResNet-{depth} {name}: {med(walls):.2f} s, {med(rss) / 1024:.0f} MiB "
                  f"(load {lo})", file=sys.stderr, flush=True)
        res["models"][depth] = entry
    shutil.rmtree(work, ignore_errors=True)
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1))
    print(report(res))
    return 0


def report(r) -> str:
    med = statistics.median
    imp = {k: med(v[0]) for k, v in r["imports"].items() if k != "load"}
    lines = [f"MMdnn import-only children (median of {r['runs']}, load {r['imports']['load']}): "
             f"toIR's {imp['ir']:.2f} s, toCode's {imp['code']:.2f} s, import torch "
             f"{imp['torch']:.2f} s.", "",
             "| model | toIR (s) | toCode (s) | toModel (s) | total (s) | work excl. imports (s) "
             "| peak RSS (MB) | load |", "|---|---|---|---|---|---|---|---|"]
    for depth, e in r["models"].items():
        s = {k: med(v["wall"]) for k, v in e["steps"].items()}
        total = sum(s.values())
        work = (s["toIR"] - imp["ir"]) + (s["toCode"] - imp["code"]) + (s["toModel"] - imp["torch"])
        rss = max(med(v["rss_kib"]) for v in e["steps"].values()) * 1024
        loads = "; ".join(v["load"] for v in e["steps"].values())
        lines.append(f"| ResNet-{depth} | {s['toIR']:.2f} | {s['toCode']:.2f} | "
                     f"{s['toModel']:.2f} | {total:.2f} | {work:.2f} | {rss / 1e6:.0f} | {loads} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
