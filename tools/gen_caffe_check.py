#!/usr/bin/env python3
"""Write every generated deploy net, and what real Caffe must report for it, into a folder.

Usage: ``python tools/gen_caffe_check.py OUT_DIR`` (with the project's Python).

Writes ``OUT_DIR/<net>.prototxt`` for: CIFAR n in {3,5,7,9,18} x shortcut {A,B} (plus option
C once), ImageNet depths {18,34,50,101,152} (plus option A on ResNet-50, which exercises the
multi-copy zero padding), the pre-activation nets of both families, and the MXNet-variant
nets; and ``OUT_DIR/expected.json``::

    {"<prototxt_path>": {"output_blob": "prob", "shape": [1, 10], "learnable_params": 269722}}

``prototxt_path`` is the file name relative to OUT_DIR (the folder may be mounted elsewhere,
e.g. inside the Caffe chroot). ``shape`` is the output blob's shape from our shape inference;
``learnable_params`` is ``converter.ir.param_count`` (BatchNorm statistics and frozen
``lr_mult: 0`` blobs excluded -- the paper's count). The Caffe-side check (another tool) loads
each net in BVLC Caffe, runs a forward pass and compares against these numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from converter.builders import PAPER_NS, build
from converter.emit import emit_prototxt
from converter.ir import param_count

IMAGENET = (18, 34, 50, 101, 152)


def cases():
    """Yield ``(file_stem, build_kwargs)`` for every net the Caffe check covers."""
    for n in PAPER_NS:
        for shortcut in ("A", "B"):
            yield f"cifar-n{n}-{shortcut}", dict(n=n, shortcut=shortcut)
        yield f"cifar-n{n}-A-preact", dict(n=n, shortcut="A", preact=True)
    yield "cifar-n3-C", dict(n=3, shortcut="C")
    yield "cifar-n3-B-preact", dict(n=3, shortcut="B", preact=True)
    for depth in IMAGENET:
        yield f"imagenet-{depth}", dict(depth=depth)
        yield f"imagenet-{depth}-preact", dict(depth=depth, preact=True)
    yield "imagenet-50-A", dict(depth=50, shortcut="A")
    yield "mxnet-n9", dict(n=9, variant="mxnet")
    yield "mxnet-n3-proj1x1", dict(n=3, variant="mxnet", proj_kernel=1)


def expectation(net) -> dict:
    """Output blob, its inferred shape and the learnable-parameter count of ``net``."""
    shapes = net.validate()
    outputs = net.output_blobs()
    if len(outputs) != 1:
        raise SystemExit(f"{net.name}: expected one output blob, got {outputs}")
    return {"output_blob": outputs[0], "shape": list(shapes[outputs[0]]),
            "learnable_params": param_count(net)}


def write(out_dir: Path) -> dict:
    """Write all prototxts and expected.json into ``out_dir``; return the expectations."""
    out_dir.mkdir(parents=True, exist_ok=True)
    expected = {}
    for stem, kwargs in cases():
        net = build(**kwargs)
        path = f"{stem}.prototxt"
        (out_dir / path).write_text(emit_prototxt(net), encoding="utf-8")
        expected[path] = expectation(net)
    tmp = out_dir / "expected.json.tmp"
    tmp.write_text(json.dumps(expected, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, out_dir / "expected.json")
    return expected


def main(argv=None) -> int:
    """Command-line entry: ``gen_caffe_check.py OUT_DIR``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", type=Path, help="folder to write the nets and expected.json")
    args = parser.parse_args(argv)
    expected = write(args.out_dir)
    print(f"wrote {len(expected)} nets and expected.json to {args.out_dir}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
