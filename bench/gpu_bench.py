"""GPU throughput of converted ResNet-50/152 vs torchvision, and fp32 parity (TF32 off).

Called by ``tools/gpu-bench.sh``; runs anywhere torch (+ torchvision, optional) is installed:

    python bench/gpu_bench.py --device cuda [--dir /var/tmp/resnet-bench] [--budget 150]
    python bench/gpu_bench.py --device cpu --quick      # smoke test without a GPU

For each depth: models ``converted`` (``to_torch``), ``fold-bn`` (``to_torch(fold_bn=True)``)
and ``torchvision`` (v1.5, random weights); configurations fp32, bf16 (weights and input in
bfloat16) and channels_last (fp32, NHWC), each eager and with ``torch.compile``. Throughput is
images/s over timed iterations after warm-up (CUDA-synchronised). Compiling is what takes time:
the compiled runs are skipped, and said so, once ``--budget`` seconds are spent.

Parity: the converted model's fc1000 on the device in fp32 with TF32 off vs the same model in
float64 on the CPU (max abs error / max abs value), plus the argmax agreement of prob.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

START = time.monotonic()


def elapsed() -> float:
    return time.monotonic() - START


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def throughput(model, x, device: str, warmup: int, iters: int) -> float:
    with torch.inference_mode():
        for _ in range(warmup):
            model(x)
        sync(device)
        t = time.perf_counter()
        for _ in range(iters):
            model(x)
        sync(device)
    return iters * x.shape[0] / (time.perf_counter() - t)


def parity(net, weights, device: str, batch: int) -> str:
    from converter.backends.torch.net import to_torch
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    x = torch.randn(batch, 3, 224, 224, generator=torch.Generator().manual_seed(0)) * 64
    ref_model = to_torch(net, weights).double()
    with torch.inference_mode():
        ref = ref_model.forward_all(x.double())
    del ref_model
    model = to_torch(net, weights).to(device)
    with torch.inference_mode():
        got = model.forward_all(x.to(device))
    fc_ref, fc = ref["fc1000"], got["fc1000"].double().cpu()
    err = float((fc - fc_ref).abs().max() / fc_ref.abs().max())
    same = bool((got["prob"].argmax(1).cpu() == ref["prob"].argmax(1)).all())
    return f"fc1000 max|err|/max|ref| {err:.2e}, prob argmax equal: {same}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--dir", default="/var/tmp/resnet-bench")
    ap.add_argument("--depths", default=None, help="default 50,152 (quick: 50)")
    ap.add_argument("--batch", type=int, default=None, help="default 64 (quick: 2)")
    ap.add_argument("--iters", type=int, default=None, help="default 20 (quick: 2)")
    ap.add_argument("--warmup", type=int, default=None, help="default 5 (quick: 1)")
    ap.add_argument("--budget", type=float, default=150.0,
                    help="seconds after which compiled runs are skipped")
    ap.add_argument("--no-compile", action="store_true")
    ap.add_argument("--quick", action="store_true", help="small batch, ResNet-50 only, "
                    "compile fp32 only: a smoke test that runs on a CPU")
    args = ap.parse_args(argv)
    q = args.quick
    depths = [int(d) for d in (args.depths or ("50" if q else "50,152")).split(",")]
    batch = args.batch or (2 if q else 64)
    iters = args.iters or (2 if q else 20)
    warmup = args.warmup or (1 if q else 5)
    device = args.device
    if device.startswith("cuda") and not torch.cuda.is_available():
        print("no CUDA device visible to torch", file=sys.stderr)
        return 2
    if device == "cpu":
        torch.set_num_threads(max(1, torch.get_num_threads()))
    try:
        import torchvision
    except Exception as exc:  # run the converted models anyway
        print(f"torchvision unavailable ({exc}); its columns are n/a", file=sys.stderr)
        torchvision = None
    from converter.backends.torch.net import to_torch
    from converter.caffe.loader import load_caffe

    name = torch.cuda.get_device_name() if device.startswith("cuda") else "CPU"
    print(f"# {name}; torch {torch.__version__}"
          + (f", torchvision {torchvision.__version__}" if torchvision else "")
          + f"; batch {batch}, {iters} timed iterations after {warmup} warm-up", flush=True)
    configs = [("fp32", torch.float32, torch.contiguous_format),
               ("bf16", torch.bfloat16, torch.contiguous_format),
               ("channels_last", torch.float32, torch.channels_last)]
    rows, notes, loaded = [], [], {}
    for depth in depths:
        net, weights = load_caffe(Path(args.dir) / f"ResNet-{depth}-model.caffemodel")
        loaded[depth] = (net, weights)
        notes.append(f"ResNet-{depth} parity (fp32, TF32 off, vs float64 CPU): "
                     + parity(net, weights, device, 2))
        print(notes[-1], flush=True)
    # TF32 back on for throughput (PyTorch's default for convolutions).
    torch.backends.cudnn.allow_tf32 = True
    # Every eager run first, then the compiled ones (most important first) while the
    # budget lasts: compiling, not running, is what takes the time.
    plan = [(d, c, False) for d in depths for c in configs]
    if not args.no_compile:
        plan += [(d, c, True) for d in depths for c in configs if not q or c[0] == "fp32"]
    for depth, (cname, dtype, fmt), compiled in plan:
        net, weights = loaded[depth]
        makers = {"converted": lambda: to_torch(net, weights),
                  "fold-bn": lambda: to_torch(net, weights, fold_bn=True)}
        if torchvision is not None:
            makers["torchvision"] = lambda: getattr(torchvision.models, f"resnet{depth}")(
                weights=None).eval()
        x = (torch.randn(batch, 3, 224, 224) * 64).to(device=device, dtype=dtype,
                                                       memory_format=fmt)
        rates = {}
        for mname, make in makers.items():
            if compiled and elapsed() > args.budget:
                rates[mname] = None
                continue
            model = make().to(device=device, dtype=dtype, memory_format=fmt)
            if compiled:
                model = torch.compile(model)
            try:
                rates[mname] = throughput(model, x, device, warmup, iters)
            except Exception as exc:  # report, keep going
                rates[mname] = None
                notes.append(f"ResNet-{depth} {mname} {cname} compiled={compiled}: "
                             f"{type(exc).__name__}: {str(exc)[:200]}")
            del model
            if device.startswith("cuda"):
                torch.cuda.empty_cache()
        rows.append((depth, cname, compiled, rates))
        print(f"  ResNet-{depth} {cname:13s} compile={compiled!s:5s} " + "  ".join(
            f"{k} {'-' if v is None else f'{v:.1f}'}" for k, v in rates.items())
            + f"  [{elapsed():.0f} s]", flush=True)
    print()
    print("| model | config | compile | converted img/s | fold-bn img/s | torchvision img/s "
          "| converted / tv | fold-bn / tv |")
    print("|---|---|---|---|---|---|---|---|")
    for depth, cname, compiled, r in rows:
        def f(v):
            return "skipped" if v is None else f"{v:.1f}"

        def ratio(a):
            tv = r.get("torchvision")
            return "n/a" if a is None or not tv else f"{a / tv:.2f}x"
        print(f"| ResNet-{depth} | {cname} | {'yes' if compiled else 'no'} | "
              f"{f(r.get('converted'))} | {f(r.get('fold-bn'))} | {f(r.get('torchvision'))} | "
              f"{ratio(r.get('converted'))} | {ratio(r.get('fold-bn'))} |")
    print()
    for n in notes:
        print(f"- {n}")
    print(f"\ntotal {elapsed():.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
