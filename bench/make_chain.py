"""Make a deep chain net for the scaling benchmark: Input, then N x (Convolution + ReLU).

    python bench/make_chain.py --layers 50000 [--channels 4] [--size 8] [--out /var/tmp/resnet-bench]

Each Convolution is 3x3, pad 1, ``--channels`` in and out, with a bias; the input is
1 x channels x size x size. ``--layers`` counts the Convolution and ReLU layers (the Input
layer aside), so 50000 means 25000 of each. Weights are small and seeded (the chain stays
finite); the file is written by the project's own writer as ``chain-<layers>.caffemodel``.
Prints the path, its size and the seconds it took.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from converter.caffe.reader import parse_prototxt_text
from converter.caffe.writer import write_caffemodel


def chain_prototxt(pairs: int, channels: int, size: int) -> str:
    head = (f'name: "chain"\nlayer {{ name: "data" type: "Input" top: "data" '
            f'input_param {{ shape {{ dim: 1 dim: {channels} dim: {size} dim: {size} }} }} }}\n')
    body, bottom = [], "data"
    for i in range(pairs):
        body.append(f'layer {{ name: "conv{i}" type: "Convolution" bottom: "{bottom}" '
                    f'top: "conv{i}" convolution_param {{ num_output: {channels} '
                    f'kernel_size: 3 pad: 1 }} }}\n'
                    f'layer {{ name: "relu{i}" type: "ReLU" bottom: "conv{i}" '
                    f'top: "conv{i}" }}\n')
        bottom = f"conv{i}"
    return head + "".join(body)


def make(layers: int, out: Path, channels: int = 4, size: int = 8) -> Path:
    """Write ``chain-<layers>.caffemodel`` (and its deploy prototxt) to ``out``."""
    net = parse_prototxt_text(chain_prototxt(layers // 2, channels, size))
    net.validate()
    rng = np.random.default_rng(0)
    # He-like scale keeps activations of order 1 through 25,000 ReLU layers.
    std = np.sqrt(2.0 / (9 * channels))
    weights = {layer.name: [(rng.standard_normal(layer.blob_shapes[0]) * std).astype(np.float32),
                            np.zeros(layer.blob_shapes[1], np.float32)]
               for layer in net.layers if layer.type == "Convolution"}
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"chain-{layers}.caffemodel"
    write_caffemodel(net, weights, path)
    return path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layers", type=int, default=50000)
    ap.add_argument("--channels", type=int, default=4)
    ap.add_argument("--size", type=int, default=8)
    ap.add_argument("--out", default="/var/tmp/resnet-bench")
    args = ap.parse_args(argv)
    start = time.perf_counter()
    path = make(args.layers, Path(args.out), args.channels, args.size)
    print(f"{path}\t{path.stat().st_size} bytes\t{time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
