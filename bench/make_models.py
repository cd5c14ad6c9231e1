"""Make ResNet-50 / ResNet-152 caffemodels for benchmarking (Kaiming's layout and sizes).

The nets come from the project's own generator (``converter.builders.build``), the weights are
deterministic (``tools/goldenlib.py``: He-normal Convolution/InnerProduct weights, realistic
BatchNorm statistics and Scale gamma/beta) and the file is written by the project's own writer.
ResNet-152 is ~241 MB, the size of Kaiming's released ResNet-152-model.caffemodel.

    python bench/make_models.py [--out /var/tmp/resnet-bench] [--depths 50,152] [--force]

Prints one line per model: path, bytes, seconds.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import goldenlib  # noqa: E402

DEFAULT_OUT = "/var/tmp/resnet-bench"
SEED = goldenlib.DEFAULT_SEED
#: Caffe's BatchNorm moving-average factor as stored in Kaiming's models (1 - 0.999^k, k large).
BN_FACTOR = np.float32(999.982)


def bn_blobs(name: str, shape):
    """(mean*f, var*f, f) with mean ~ N(0, 0.1), var ~ U(0.5, 1.5)."""
    mean = goldenlib.rng(SEED, name + "/mean").standard_normal(size=tuple(shape)) * 0.1
    var = goldenlib.uniform(SEED, name + "/var", shape, 0.5, 1.5).astype(np.float64)
    f = np.float64(BN_FACTOR)
    return [(mean * f).astype(np.float32), (var * f).astype(np.float32),
            np.array([BN_FACTOR], np.float32).reshape((1,))]


def make_weights(net):
    weights = {}
    for layer in net.layers:
        shapes = layer.blob_shapes
        if not shapes:
            continue
        if layer.type in ("Convolution", "InnerProduct"):
            transpose = bool(getattr(layer.params, "transpose", False))
            weights[layer.name] = [goldenlib.param_blob(SEED, layer.type, layer.name, i, s,
                                                        transpose)
                                   for i, s in enumerate(shapes)]
        elif layer.type == "BatchNorm":
            blobs = bn_blobs(layer.name, shapes[0])
            weights[layer.name] = [b.reshape(tuple(s)) for b, s in zip(blobs, shapes)]
        elif layer.type == "Scale":
            gamma, beta = goldenlib.scale_params(SEED, layer.name, shapes[0])
            weights[layer.name] = [gamma, beta][:len(shapes)]
        else:
            raise SystemExit(f"no synthetic weights for {layer.type} '{layer.name}'")
    return weights


def make(depth: int, out: Path, force: bool = False) -> Path:
    from converter.builders import build
    from converter.caffe.writer import write_caffemodel
    path = out / f"ResNet-{depth}-model.caffemodel"
    if path.exists() and not force:
        return path
    net = build(depth=depth)
    net.validate()
    write_caffemodel(net, make_weights(net), path)
    return path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=DEFAULT_OUT)
    ap.add_argument("--depths", default="50,152")
    ap.add_argument("--force", action="store_true", help="rewrite existing files")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for depth in (int(d) for d in args.depths.split(",")):
        t = time.perf_counter()
        path = make(depth, out, args.force)
        print(f"{path}\t{os.path.getsize(path)} bytes\t{time.perf_counter() - t:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
