"""``resnet-convert``: Caffe models to PyTorch and MXNet, and blob-by-blob verification.

Commands only parse arguments and call library functions (:mod:`converter.convert`,
:mod:`converter.verify`); every ConverterError is printed once, as one line, with exit 2.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from typing import List, Optional, Sequence

from .. import __version__, progress
from ..errors import ConverterError, UsageError
from . import toolbox
from .common import OneLineParser, run_main
from .export import add_export_commands

PROG = "resnet-convert"

EPILOG = """\
examples:
  resnet-convert caffe2torch ResNet-152-model.caffemodel            # -> .safetensors
  resnet-convert caffe2torch ResNet-152-model.caffemodel -o resnet152.pt2
  resnet-convert caffe2torch ResNet-152-model.caffemodel -o resnet152.onnx --outputs pool5
  resnet-convert caffe2mxnet ResNet-152-model.caffemodel -o resnet152
  resnet-convert info ResNet-152-model.caffemodel
  resnet-convert draw deploy.prototxt -o net.svg --rankdir LR
  resnet-convert verify my.caffemodel --caffe --plot errors.png
  resnet-convert verify my.caffemodel --golden G.h5
  resnet-convert golden my.caffemodel -o G.h5

Errors print one line 'resnet-convert: error: ...' and exit with status 2 (--debug shows the
traceback); progress is drawn on stderr when it is a terminal (--quiet turns it off).
"""


def _int_list(text: str) -> List[int]:
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        raise UsageError(f"--input-shape: expected comma-separated integers like "
                         f"1,3,224,224, got '{text}'")
    if any(v <= 0 for v in values):
        raise UsageError(f"--input-shape: dimensions must be positive, got '{text}'")
    return values


def _float_list(text: str) -> List[float]:
    try:
        return [float(v) for v in text.split(",")]
    except ValueError:
        raise UsageError(f"--mean-values: expected comma-separated numbers like "
                         f"104,117,123, got '{text}'")


def _names(text: str) -> List[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise UsageError("--outputs needs at least one blob name")
    return names


def _add_model_args(p: argparse.ArgumentParser) -> None:
    """Flags shared by caffe2torch and caffe2mxnet."""
    p.add_argument("model", help="the .caffemodel (its layer definitions are used unless "
                                 "--prototxt is given)")
    p.add_argument("--prototxt", help="deploy prototxt that supplies or overrides the net")
    p.add_argument("--input-shape", type=_int_list, metavar="N,C,H,W",
                   help="input shape where the files declare none (e.g. a Data layer)")
    p.add_argument("--outputs", type=_names, metavar="BLOB[,BLOB...]",
                   help="return these Caffe blobs, in this order, instead of the net's "
                        "output (e.g. pool5, or fc1000,prob)")
    p.add_argument("--mean", metavar="FILE.binaryproto",
                   help="mean image recorded with the model's preprocessing facts")
    p.add_argument("--mean-values", type=_float_list, metavar="B,G,R",
                   help="per-channel mean recorded with the preprocessing facts")
    p.add_argument("--rgb", action="store_true",
                   help="fold the BGR->RGB channel swap into the first convolution, so the "
                        "converted model takes RGB input")
    p.add_argument("--allow-nonfinite", action="store_true",
                   help="convert even if weights contain NaN/Inf (default: refuse)")
    _add_caffe_proto(p)


def _add_caffe_proto(p: argparse.ArgumentParser) -> None:
    p.add_argument("--caffe-proto", metavar="FORK.proto",
                   help="the caffe.proto of the Caffe fork (SSD, Faster R-CNN, ...) that wrote "
                        "the files; its extra fields and layer types are read")


def _options(args):
    from ..convert import Options
    return Options(prototxt=args.prototxt, input_shape=args.input_shape, outputs=args.outputs,
                   mean=args.mean, mean_values=args.mean_values, rgb=args.rgb,
                   fold_bn=getattr(args, "fold_bn", False),
                   allow_nonfinite=args.allow_nonfinite, caffe_proto=args.caffe_proto)


@contextlib.contextmanager
def _net_file_context(args):
    """Name a file in errors that carry none.

    Back-end checks (e.g. a Softmax axis out of range, found while building the module)
    raise without a file; the layer they name is defined by the prototxt if one was given,
    else by the caffemodel, so that is the file the user has to fix.
    """
    try:
        yield
    except ConverterError as exc:
        raise exc.with_context(file=args.prototxt or args.model)


def cmd_caffe2torch(args) -> None:
    toolbox.apply_common(args)
    from ..convert import caffe2torch
    with _net_file_context(args):
        out = caffe2torch(args.model, args.output, _options(args))
    print(f"wrote {out}", file=sys.stderr)
    if out.suffix == ".py":
        print(f"wrote {out.with_suffix('.safetensors')}", file=sys.stderr)


def cmd_caffe2mxnet(args) -> None:
    toolbox.apply_common(args)
    from ..convert import caffe2mxnet
    with _net_file_context(args):
        paths = caffe2mxnet(args.model, args.output, _options(args))
    for path in paths:
        print(f"wrote {path}", file=sys.stderr)


def cmd_verify(args) -> None:
    toolbox.apply_common(args)
    from ..verify import format_report, verify_model
    if bool(args.caffe) == bool(args.golden):
        raise UsageError("verify needs exactly one of --golden G.h5 and --caffe")
    if args.float64 and args.caffe:
        raise UsageError("--float64 compares with a golden file's float64 reference: "
                         "use it with --golden")
    toolbox.check_plot(args)
    if args.caffe:
        report = toolbox.verify_caffe(args)
    else:
        with progress.steps("verify", ["running the conversion on the golden input"]) as job:
            job.step("running the conversion on the golden input")
            report = verify_model(args.model, args.golden, framework=args.framework,
                                  prototxt=args.prototxt, device=args.device, atol=args.atol,
                                  rtol=args.rtol, float64=args.float64,
                                  caffe_proto=args.caffe_proto)
    toolbox.plot(report, args.plot)
    print(format_report(report))
    if not report.passed:
        raise SystemExit(1)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (every command and flag documented in --help)."""
    parser = OneLineParser(prog=PROG, description=(
        "Convert Caffe models (e.g. Kaiming He's ResNet-50/101/152) to PyTorch and MXNet, "
        "exactly, and verify them blob by blob against golden activations from real Caffe."),
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    parser.add_argument("--debug", action="store_true", help=toolbox.DEBUG_HELP)
    parser.add_argument("--quiet", "-q", action="store_true", help=toolbox.QUIET_HELP)
    sub = parser.add_subparsers(title="commands", metavar="COMMAND", parser_class=OneLineParser)
    p = sub.add_parser("caffe2torch", help="caffemodel -> .safetensors / .pt2 / .onnx",
                       description="Convert a caffemodel to PyTorch. Default output "
                                   "MODEL.safetensors (state_dict + the net and preprocessing "
                                   "facts; load with converter.load_torch).")
    _add_model_args(p)
    p.add_argument("-o", "--output", metavar="OUT",
                   help="OUT.safetensors (default), OUT.pt2 (torch.export, dynamic batch), "
                        "OUT.onnx, or OUT.py (a standalone, trainable PyTorch module; its "
                        "weights go to OUT.safetensors)")
    p.add_argument("--fold-bn", action="store_true",
                   help="fold BatchNorm+Scale into the preceding convolution (inference)")
    toolbox.add_common(p)
    p.set_defaults(func=cmd_caffe2torch)
    p = sub.add_parser("caffe2mxnet", help="caffemodel -> PREFIX-symbol.json + PREFIX-0000.params",
                       description="Convert a caffemodel to an MXNet checkpoint (input "
                                   "'data', any batch size); load with "
                                   "mx.model.load_checkpoint(PREFIX, 0).")
    _add_model_args(p)
    p.add_argument("-o", "--output", metavar="PREFIX", help="checkpoint prefix (default: MODEL "
                                                            "without .caffemodel)")
    toolbox.add_common(p)
    p.set_defaults(func=cmd_caffe2mxnet)
    _add_verify(sub)
    toolbox.add_golden(sub, _int_list)
    toolbox.add_info(sub, _int_list)
    toolbox.add_draw(sub, _int_list)
    add_export_commands(sub, _int_list)
    return parser


def _add_verify(sub) -> None:
    p = sub.add_parser("verify", help="compare a converted model with real Caffe, blob by blob",
                       description="Run the converted model on a golden file's input (--golden)"
                                   " or run the model in real Caffe and the conversion on the "
                                   "same input (--caffe); compare every blob in Caffe's layer "
                                   "order, print a table and name the first diverging blob. "
                                   "Exit 1 on failure.")
    p.add_argument("model", help="the .caffemodel")
    p.add_argument("--golden", metavar="G.h5", help="golden HDF5 file")
    p.add_argument("--caffe", action="store_true",
                   help="compare with real BVLC Caffe run now on this model")
    toolbox.add_caffe_flags(p)
    p.add_argument("--plot", metavar="ERRORS.png",
                   help="draw the relative error per blob along the net (.png/.svg/.pdf)")
    p.add_argument("--framework", choices=("torch", "mxnet"), default="torch")
    p.add_argument("--prototxt", help="deploy prototxt that supplies or overrides the net")
    p.add_argument("--device", default="cpu", help="torch device (cpu, cuda)")
    _add_caffe_proto(p)
    p.add_argument("--atol", type=float, help="absolute tolerance (default: the golden file's;"
                                              " 1e-5 with --caffe)")
    p.add_argument("--rtol", type=float, help="tolerance relative to each blob's largest "
                                              "magnitude (default: the golden file's; 1e-3 "
                                              "with --caffe)")
    p.add_argument("--float64", action="store_true",
                   help="run the torch module in float64 and compare it with the golden "
                        "file's float64 reference, to float64 rounding (catches errors "
                        "smaller than Caffe's own float32 rounding)")
    toolbox.add_common(p)
    p.set_defaults(func=cmd_verify)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Console entry point."""
    return run_main(PROG, build_parser, argv)


if __name__ == "__main__":
    sys.exit(main())
