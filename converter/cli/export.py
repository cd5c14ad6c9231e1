"""``resnet-convert torch2caffe`` and ``mxnet2caffe``: PyTorch / MXNet models -> Caffe.

Only argument parsing here; the jobs are :mod:`converter.export`.
"""

from __future__ import annotations

import argparse
import sys


def cmd_torch2caffe(args) -> None:
    from ..export import torch2caffe
    for path in torch2caffe(args.model, args.output, args.input_shape, args.name,
                            args.native_clip):
        print(f"wrote {path}", file=sys.stderr)


def cmd_mxnet2caffe(args) -> None:
    from ..export import mxnet2caffe
    for path in mxnet2caffe(args.prefix, args.output, args.epoch, args.input_shape, args.name,
                            args.native_clip):
        print(f"wrote {path}", file=sys.stderr)


def _native_clip(p) -> None:
    p.add_argument("--native-clip", action="store_true",
                   help="write ReLU6/clamp/clip as Caffe's Clip layer (Caffe builds from 2018 "
                        "on; default: the same values from ReLU/Power/Eltwise, which every "
                        "Caffe build runs)")


def add_export_commands(sub, int_list) -> None:
    """Add ``torch2caffe`` and ``mxnet2caffe`` to the ``resnet-convert`` subparsers;
    ``int_list`` parses ``N,C,H,W``."""
    p = sub.add_parser("torch2caffe", help="torch.export .pt2 -> PREFIX.prototxt + "
                                           "PREFIX.caffemodel",
                       description="Export a torch.export archive (torch.export.save) to "
                                   "Caffe: PREFIX.prototxt (deploy, Input layer) and "
                                   "PREFIX.caffemodel (layers + weights). Layer names are "
                                   "the module paths (layer1.0.conv1). Ops without an exact "
                                   "Caffe form are all listed at once (exit 2, no output).")
    p.add_argument("model", help="the .pt2 archive")
    p.add_argument("-o", "--output", metavar="PREFIX", help="output prefix (default: MODEL "
                                                            "without .pt2)")
    p.add_argument("--input-shape", type=int_list, metavar="N,C,H,W",
                   help="input shape (needed where the archive's shape is dynamic beyond "
                        "the batch; a dynamic batch alone defaults to 1)")
    p.add_argument("--name", help="the Caffe net's name (default: the file's stem)")
    _native_clip(p)
    p.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_torch2caffe)
    p = sub.add_parser("mxnet2caffe", help="MXNet checkpoint -> OUT.prototxt + "
                                           "OUT.caffemodel",
                       description="Export an MXNet checkpoint (PREFIX-symbol.json + "
                                   "PREFIX-NNNN.params, as Gluon's HybridBlock.export writes) "
                                   "to Caffe. Layer names are the symbol's node names.")
    p.add_argument("prefix", help="checkpoint prefix")
    p.add_argument("--epoch", type=int, help="which PREFIX-NNNN.params (default: the newest)")
    p.add_argument("-o", "--output", metavar="OUT", help="output prefix (default: PREFIX)")
    p.add_argument("--input-shape", type=int_list, metavar="N,C,H,W",
                   help="the data input's shape (MXNet symbols do not record it; default: "
                        "batch 1 at the first common size, 224, 32, 299, ..., that the "
                        "parameters fit, with a warning)")
    p.add_argument("--name", help="the Caffe net's name (default: PREFIX's name)")
    _native_clip(p)
    p.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_mxnet2caffe)
