"""``resnet-convert`` commands for looking at nets and checking them against real Caffe:
``info``, ``draw``, ``golden``, and the ``--caffe`` side of ``verify``.

Commands only parse arguments and call library functions (:mod:`converter.netinfo`,
:mod:`converter.draw`, :mod:`converter.reference`).
"""

from __future__ import annotations

import argparse
import sys

from .. import progress

DEBUG_HELP = "show the Python traceback of an error"
QUIET_HELP = "no progress output (shown on stderr only when it is a terminal)"


def add_common(p: argparse.ArgumentParser) -> None:
    """``--debug`` and ``--quiet``, on every command (also accepted before the command)."""
    p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP)
    p.add_argument("--quiet", "-q", action="store_true", default=argparse.SUPPRESS,
                   help=QUIET_HELP)


def apply_common(args) -> None:
    """Act on the flags of :func:`add_common` (before a command's work)."""
    progress.set_quiet(getattr(args, "quiet", False))


def _add_net_source(p: argparse.ArgumentParser, input_shape_type) -> None:
    p.add_argument("model", nargs="?", help="a .caffemodel, or a prototxt")
    p.add_argument("--prototxt", help="deploy prototxt (alone, or supplying the caffemodel's "
                                      "net)")
    p.add_argument("--input-shape", type=input_shape_type, metavar="N,C,H,W",
                   help="input shape where the files declare none")


def _net_info(args):
    from ..netinfo import describe, load_net
    net, pre, source = load_net(args.model, args.prototxt, args.input_shape)
    return describe(net, pre, source)


def _check_outputs(outputs, args) -> None:
    """Before any work: an output must not be an input, and its folder must take it."""
    from ..fileio import check_outputs, check_writable
    outputs = [o for o in outputs if o]
    check_outputs(outputs, [args.model, args.prototxt, getattr(args, "input", None)])
    check_writable(*outputs)


def cmd_info(args) -> None:
    apply_common(args)
    from ..netinfo import format_table, to_json
    info = _net_info(args)
    print(to_json(info) if args.json else format_table(info))


def cmd_draw(args) -> None:
    apply_common(args)
    from ..draw import check_format, render
    check_format(args.output)  # before any work
    _check_outputs([args.output], args)
    out = render(_net_info(args), args.output, args.rankdir)
    print(f"wrote {out}", file=sys.stderr)


def cmd_golden(args) -> None:
    apply_common(args)
    from ..reference.compare import make_golden
    _check_outputs([args.output], args)
    out = make_golden(args.model, args.output, args.prototxt, input_path=args.input,
                      seed=args.seed, caffe_python=args.caffe_python,
                      input_shape=args.input_shape)
    print(f"wrote {out}", file=sys.stderr)


def verify_caffe(args):
    """The report of ``verify --caffe`` (the caller prints it and sets the exit status)."""
    from ..reference.compare import verify_with_caffe
    return verify_with_caffe(args.model, args.prototxt, framework=args.framework,
                             device=args.device, input_path=args.input, seed=args.seed,
                             caffe_python=args.caffe_python, atol=args.atol, rtol=args.rtol)


def check_plot(args) -> None:
    """``--plot``: refuse a bad name before any work."""
    if args.plot:
        from ..reference.plot import check_format
        check_format(args.plot)
        _check_outputs([args.plot], args)


def plot(report, path) -> None:
    """``--plot``: the error profile (no-op without a path)."""
    if path:
        from ..reference.plot import plot_report
        plot_report(report, path)
        print(f"wrote {path}", file=sys.stderr)


def add_caffe_flags(p: argparse.ArgumentParser) -> None:
    """verify's flags for running real Caffe (and golden's)."""
    p.add_argument("--caffe-python", metavar="PATH",
                   help="a Python that imports caffe (default: the Debian bullseye chroot "
                        "with BVLC Caffe 1.0, made on first use; needs root)")
    p.add_argument("--input", metavar="X.npy", help="the input array (N,C,H,W float32; "
                                                    "default: seeded normal values)")
    p.add_argument("--seed", type=int, default=0, help="seed of the default input (0)")


def add_info(sub, input_shape_type) -> None:
    p = sub.add_parser("info", help="layers, shapes, parameters and MACs of a net",
                       description="One row per layer (name, type, bottoms -> tops, output "
                                   "shape, parameter count, multiply-accumulates), totals, "
                                   "inputs, outputs and preprocessing facts.")
    _add_net_source(p, input_shape_type)
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    add_common(p)
    p.set_defaults(func=cmd_info)


def add_draw(sub, input_shape_type) -> None:
    p = sub.add_parser("draw", help="draw a net with Graphviz (.svg/.png/.pdf)",
                       description="Draw the net like Caffe's draw_net.py: a box per layer "
                                   "with its type and key parameters, in-place layers folded "
                                   "into their producer, edges labelled with blob shapes. "
                                   "Needs Graphviz's 'dot'.")
    _add_net_source(p, input_shape_type)
    p.add_argument("-o", "--output", required=True, metavar="NET.svg",
                   help="output file: .svg, .png or .pdf")
    p.add_argument("--rankdir", type=str.upper, choices=("TB", "LR"), default="TB",
                   help="top-to-bottom (TB, default) or left-to-right (LR)")
    add_common(p)
    p.set_defaults(func=cmd_draw)


def add_golden(sub, input_shape_type) -> None:
    p = sub.add_parser("golden", help="write a golden file for a model, made by real Caffe",
                       description="Run the model in real BVLC Caffe and write every blob "
                                   "(full tensors) to a golden HDF5 file that 'verify "
                                   "--golden' reads.")
    p.add_argument("model", help="the .caffemodel")
    p.add_argument("-o", "--output", required=True, metavar="G.h5", help="golden file")
    p.add_argument("--prototxt", help="deploy prototxt that supplies or overrides the net")
    p.add_argument("--input-shape", type=input_shape_type, metavar="N,C,H,W",
                   help="input shape where the files declare none")
    add_caffe_flags(p)
    add_common(p)
    p.set_defaults(func=cmd_golden)
