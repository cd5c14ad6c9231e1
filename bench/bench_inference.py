"""CPU inference throughput: converted Caffe ResNet-50/152 vs torchvision's resnet50/152.

Run it in ONE venv that has both (torchvision needs its matching torch; see RESULTS.md):

    /work/bench-venvs/tv/bin/python bench/bench_inference.py [--dir /var/tmp/resnet-bench]
        [--depths 50,152] [--batches 1,16] [--runs 5] [--threads 2]

Models per depth: ``converted`` (``to_torch(net, weights)``), ``converted --fold-bn``
(``to_torch(..., fold_bn=True)``) and ``torchvision`` (v1.5, random weights: speed does not
depend on the values); with ``--extras`` also both converted models with the prepacked oneDNN
convolution path off, and torchvision scripted + frozen + ``optimize_for_inference``. fp32, eval, ``torch.inference_mode``, ``torch.set_num_threads``.
Each run times enough forward passes to take about ``--seconds`` (at least ``--min-iters``); the models are interleaved
run by run (A B C A B C ...) so that a change of machine load hits all of them alike; the
median images/s over ``--runs`` runs is reported, with the load average before and after.

FLOPs: for the converted net they are computed from the IR (every Convolution and
InnerProduct: 2 * MACs, Caffe's layout puts the stride on the first 1x1 convolution of a
downsampling block); torchvision's with ``torch.utils.flop_counter`` (which counts the same
ops: conv, linear/addmm). Both are also counted with flop_counter for the converted module as
a cross-check.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

from benchlib import load


def ir_flops(net, batch: int = 1) -> int:
    """2 * multiply-accumulates of every Convolution and InnerProduct, from the IR."""
    from converter.ir.shapes import count, infer_shapes
    ssa, _ = net.ssa()
    shapes = infer_shapes(ssa)
    total = 0
    for layer in ssa.layers:
        if layer.type == "Convolution":
            p, top, bottom = layer.params, shapes[layer.tops[0]], shapes[layer.bottoms[0]]
            k = 1
            for d in p.kernel:
                k *= d
            total += 2 * count(top) * (bottom[1] // p.group) * k
        elif layer.type == "InnerProduct":
            top, bottom = shapes[layer.tops[0]], shapes[layer.bottoms[0]]
            axis = layer.params.axis % len(bottom)
            total += 2 * count(top) * count(bottom, axis)
    return total * batch


def counted_flops(model, x) -> int:
    from torch.utils.flop_counter import FlopCounterMode
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        model(x)
    return counter.get_total_flops()


def no_reuse(model):
    """The converted model with in-place reuse of dead values switched off (A/B of it)."""
    model.reuse_memory = False
    return model


class OrtModel:
    """Our exported ``.onnx`` of the net (``caffe2torch -o X.onnx``, with or without
    ``--fold-bn``) in onnxruntime's CPU execution provider, all graph optimisations on,
    ``threads`` intra-op threads (sequential execution): the engine a user would pick instead."""

    def __init__(self, model: Path, fold_bn: bool, threads: int, folder: Path):
        import onnxruntime as ort
        from converter.convert import Options, caffe2torch
        out = folder / f"{model.stem}{'-fold' if fold_bn else ''}.onnx"
        caffe2torch(str(model), str(out), Options(fold_bn=fold_bn))
        opts = ort.SessionOptions()
        opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(out), opts, providers=["CPUExecutionProvider"])

    def __call__(self, x):
        return self.session.run(None, {"data": x.numpy()})


def gemm_peak(threads: int, n: int = 4096, runs: int = 5) -> float:
    """This machine's fp32 peak as torch reaches it: the best GFLOP/s of an n x n matmul."""
    torch.set_num_threads(threads)
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    best = 0.0
    for _ in range(runs):
        t = time.perf_counter()
        torch.mm(a, b)
        best = max(best, 2 * n ** 3 / (time.perf_counter() - t) / 1e9)
    return best


def build(depth: int, d: Path, ab_reuse: bool = False, extras: bool = False, ort=None,
          compiled: bool = False):
    import torchvision
    from converter.backends.torch.net import to_torch
    from converter.caffe.loader import load_caffe
    net, weights = load_caffe(d / f"ResNet-{depth}-model.caffemodel")
    models = {
        "converted": to_torch(net, weights),
        "converted --fold-bn": to_torch(net, weights, fold_bn=True),
        "torchvision": getattr(torchvision.models, f"resnet{depth}")(weights=None).eval(),
    }
    if ort is not None:  # (threads, scratch folder)
        model = d / f"ResNet-{depth}-model.caffemodel"
        models["onnxruntime"] = OrtModel(model, False, *ort)
        models["onnxruntime, --fold-bn onnx"] = OrtModel(model, True, *ort)
    if compiled:
        models["torchvision, torch.compile"] = torch.compile(models["torchvision"])
        models["converted --fold-bn, torch.compile"] = torch.compile(
            to_torch(net, weights, fold_bn=True))
    if ab_reuse:
        models["converted, no reuse"] = no_reuse(to_torch(net, weights))
    if extras:
        models["converted, plain conv2d"] = PlainConv(to_torch(net, weights))
        models["converted --fold-bn, plain conv2d"] = PlainConv(
            to_torch(net, weights, fold_bn=True))
        models["torchvision, jit.freeze"] = frozen(models["torchvision"])
    return net, models


class PlainConv(torch.nn.Module):
    """The converted model with the prepacked-oneDNN convolution path switched off (every
    convolution through F.conv2d, as before that change): the A/B of it."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        from converter.backends.torch import onednn as torch_onednn
        previous = torch_onednn.set_enabled(False)
        try:
            return self.model(x)
        finally:
            torch_onednn.set_enabled(previous)


def frozen(model):
    """torchvision's model as a tuned user would deploy it on CPU: scripted, frozen and
    optimised for inference (which prepacks the oneDNN weights and fuses conv+BN+ReLU)."""
    with torch.no_grad():
        return torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.script(model)))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", default="/var/tmp/resnet-bench")
    ap.add_argument("--depths", default="50,152")
    ap.add_argument("--batches", default="1,16")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=1.5, help="target length of one run")
    ap.add_argument("--min-iters", type=int, default=3,
                    help="forward passes per run at least: one-pass runs (ResNet-152 batch 16 "
                         "takes ~2.5 s) gave unstable ratios between models")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--ab-reuse", action="store_true",
                    help="also run the converted model with in-place reuse off")
    ap.add_argument("--extras", action="store_true",
                    help="also run the converted models with plain F.conv2d (prepacking off) "
                         "and torchvision scripted + frozen + optimize_for_inference")
    ap.add_argument("--onnxruntime", action="store_true",
                    help="also run our exported .onnx (default and --fold-bn) in onnxruntime")
    ap.add_argument("--compile", action="store_true",
                    help="also run torchvision and the --fold-bn module under torch.compile")
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    import tempfile
    import torchvision
    peak = gemm_peak(args.threads)
    torch.set_num_threads(args.threads)
    out = {"torch": torch.__version__, "torchvision": torchvision.__version__,
           "threads": torch.get_num_threads(), "runs": args.runs, "gemm_peak_gflops": peak,
           "results": []}
    print(f"fp32 peak (4096^2 matmul, {args.threads} threads): {peak:.1f} GFLOP/s",
          file=sys.stderr, flush=True)
    scratch = tempfile.TemporaryDirectory()
    for depth in [int(x) for x in args.depths.split(",")]:
        net, models = build(depth, Path(args.dir), args.ab_reuse, args.extras,
                            (args.threads, Path(scratch.name)) if args.onnxruntime else None,
                            args.compile)
        x1 = torch.randn(1, 3, 224, 224) * 64
        flops = {"converted (IR)": ir_flops(net)}
        for name, m in models.items():
            if isinstance(m, torch.nn.Module) and "jit.freeze" not in name and \
                    "compile" not in name:  # flop_counter sees neither ScriptModules nor ORT
                flops[name] = counted_flops(m, x1)
        with torch.inference_mode():  # fold-bn parity on the logits (prob saturates)
            ref = models["converted"].forward_all(x1)["fc1000"]
            folded = models["converted --fold-bn"].forward_all(x1)["fc1000"]
        parity = float((ref - folded).abs().max() / ref.abs().max())
        out["results"].append({"depth": depth, "flops": flops, "fold_parity_max_abs": parity})
        print(f"ResNet-{depth} GFLOPs/image: " + ", ".join(f"{k} {v / 1e9:.3f}"
                                                         for k, v in flops.items())
              + f"; fold-bn max |diff| / max |fc1000| {parity:.2e}", file=sys.stderr, flush=True)
        for batch in [int(b) for b in args.batches.split(",")]:
            x = torch.randn(batch, 3, 224, 224) * 64
            iters = {}
            with torch.inference_mode():
                for name, m in models.items():
                    for _ in range(args.warmup):
                        m(x)
                    t = time.perf_counter()
                    m(x)
                    one = time.perf_counter() - t
                    iters[name] = max(args.min_iters, round(args.seconds / one))
                lo = load()
                rates = {name: [] for name in models}
                for _ in range(args.runs):
                    for name, m in models.items():
                        t = time.perf_counter()
                        for _ in range(iters[name]):
                            m(x)
                        rates[name].append(iters[name] * batch / (time.perf_counter() - t))
            med = {k: statistics.median(v) for k, v in rates.items()}
            row = {"depth": depth, "batch": batch, "load": lo, "load_after": load(),
                   "iters": iters, "img_s": rates, "median_img_s": med,
                   "peak_fraction": {k: v * flops["converted (IR)"] / 1e9 / peak
                                     for k, v in med.items()}}
            out["results"].append(row)
            tv = med["torchvision"]
            print(f"ResNet-{depth} batch {batch}: " + ", ".join(
                f"{k} {v:.2f} img/s ({v / tv:.2f}x tv, "
                f"{row['peak_fraction'][k]:.0%} of peak)" for k, v in med.items())
                + f" (load {lo} -> {row['load_after']})", file=sys.stderr, flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))
    print(report(out))
    return 0


def report(r) -> str:
    lines = [f"torch {r['torch']}, torchvision {r['torchvision']}, {r['threads']} threads, "
             f"median of {r['runs']} runs.", "",
             "| model | GFLOPs/image (IR) | flop_counter: converted / folded / torchvision | "
             "fold-bn: max abs diff / max abs of fc1000 |", "|---|---|---|---|"]
    for row in r["results"]:
        if "flops" in row:
            f = row["flops"]
            lines.append(f"| ResNet-{row['depth']} | {f['converted (IR)'] / 1e9:.3f} | "
                         f"{f['converted'] / 1e9:.3f} / {f['converted --fold-bn'] / 1e9:.3f} / "
                         f"{f['torchvision'] / 1e9:.3f} | {row['fold_parity_max_abs']:.1e} |")
    lines += ["", "| model | batch | converted img/s | --fold-bn img/s | torchvision img/s | "
              "converted / tv | fold-bn / tv | load before -> after |",
              "|---|---|---|---|---|---|---|---|"]
    for row in r["results"]:
        if "batch" in row:
            m = row["median_img_s"]
            tv = m["torchvision"]
            lines.append(f"| ResNet-{row['depth']} | {row['batch']} | {m['converted']:.2f} | "
                         f"{m['converted --fold-bn']:.2f} | {tv:.2f} | "
                         f"{m['converted'] / tv:.2f}x | {m['converted --fold-bn'] / tv:.2f}x | "
                         f"{row['load']} -> {row['load_after']} |")
    rows = [row for row in r["results"] if "batch" in row]
    names = list(rows[0]["median_img_s"]) if rows else []
    lines += ["", "| model | batch | " + " | ".join(names) + " |",
              "|---|---|" + "---|" * len(names)]
    for row in rows:
        m = row["median_img_s"]
        lines.append(f"| ResNet-{row['depth']} | {row['batch']} | " + " | ".join(
            f"{m[n]:.2f} ({m[n] / m['torchvision']:.2f}x)" for n in names) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
