"""``resnet-gen``: write Caffe prototxt for the paper's ResNets, and their solvers.

Commands are registered in :data:`COMMANDS`: each entry adds its subparser and sets
``func``. A new command (e.g. ``mxnet``) is one more ``add_*`` function appended there; it
should import heavy frameworks inside its ``func`` so the other commands stay light.
This module imports neither torch nor mxnet.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from typing import Callable, List, Optional, Sequence

from .. import __version__
from ..builders import (DEFAULT_DEPTH, DEFAULT_MXNET_N, IMAGENET_DEPTHS, DataSpec, build,
                        default_data, family_of)
from ..builders.solver import cifar_schedule, imagenet_schedule, with_changes
from ..emit import Enum, emit_prototxt, emit_solver
from ..errors import UsageError
from .common import OneLineParser, run_main, write_output

PROG = "resnet-gen"
DEPTHS = ", ".join(map(str, IMAGENET_DEPTHS))

SELECTION = f"""\
Which net: --depth {{{DEPTHS}}} gives the ImageNet ResNet in Kaiming He's released
Caffe layout (50/101/152 are identical to his files); --n N gives the CIFAR ResNet with
6N+2 layers (N=3,5,7,9,18 are ResNet-20/32/44/56/110). With neither, ResNet-{DEFAULT_DEPTH}.
"""
DESCRIPTION = "Generate Caffe prototxt for ResNets (He et al. 2015 and 2016).\n\n" + SELECTION

EPILOG = """\
examples:
  resnet-gen prototxt --depth 50 -o ResNet-50-deploy.prototxt
  resnet-gen prototxt --n 18 --shortcut B --preact
  resnet-gen prototxt --n 3 --train -o train_val.prototxt
  resnet-gen prototxt --depth 50 -o ResNet-50-deploy.prototxt --draw ResNet-50.svg
  resnet-gen solver --n 3 --net train_val.prototxt -o solver.prototxt
  resnet-gen mxnet --n 9 -o resnet56-symbol.json
  resnet-gen mxnet --variant mxnet --n 3 --train -o resnet20-train-symbol.json

Errors print one line 'resnet-gen: error: ...' and exit with status 2.
"""


def _common_parent() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("-o", "--output", metavar="FILE",
                        help="write to FILE (atomically: a temporary file in the same folder, "
                             "then renamed) instead of standard output")
    parent.add_argument("--debug", action="store_true",
                        help="show the Python traceback of an error")
    return parent


#: The largest --n: ResNet-6002, five times the paper's deepest CIFAR net (n = 200).
MAX_N = 1000
#: caffe.proto's ranges: num_output is a uint32; Caffe's blob dimensions are C++ ints.
UINT32_MAX, INT32_MAX = 2**32 - 1, 2**31 - 1


def _bounded(flag: str, high: int, why: str):
    """An argparse type: an integer in 1..``high`` (``why`` says where the bound comes from),
    so no value reaches a prototxt that Caffe's own parser would reject."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise UsageError(f"{flag}: expected an integer, got '{text[:40]}'") from None
        if not 1 <= value <= high:
            raise UsageError(f"{flag}: must be positive and at most {high} ({why}), "
                             f"got {value}")
        return value
    return parse


def _selection_parent() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("which net")
    group.add_argument("--depth", type=int, metavar="D",
                       help=f"ImageNet ResNet depth, one of {DEPTHS} (default {DEFAULT_DEPTH} "
                            "when --n is not given)")
    group.add_argument("--n", type=_bounded("--n", MAX_N, f"depth 6N+2 = {6 * MAX_N + 2} "
                                                          "layers at most"), metavar="N",
                       help="CIFAR ResNet with N residual units per stage, depth 6N+2 (any "
                            f"1 <= N <= {MAX_N}; default {DEFAULT_MXNET_N} with --variant mxnet)")
    group.add_argument("--variant", choices=("caffe", "mxnet"), default="caffe",
                       help="caffe: the papers' nets (default); mxnet: the CIFAR ResNet of "
                            "the old MXNet example (BN-ReLU after the addition, stride-2 "
                            "conv shortcuts; needs --n or uses N=9)")
    group.add_argument("--name", help="net name written in the file (default e.g. "
                                      "'ResNet-50', 'ResNet-20-CIFAR-A')")
    return parent


def _architecture_parent() -> argparse.ArgumentParser:
    """Flags that shape the net (shared by ``prototxt`` and ``mxnet``)."""
    parent = argparse.ArgumentParser(add_help=False)
    g = parent.add_argument_group("architecture")
    g.add_argument("--shortcut", type=str.upper, choices=("A", "B", "C"),
                   help="shortcut option of the paper: A identity with zero-padded channels "
                        "(CIFAR default), B projections where the shape changes (ImageNet "
                        "default), C projections everywhere")
    g.add_argument("--preact", action="store_true",
                   help="pre-activation units (He et al. 2016, 'Identity Mappings')")
    g.add_argument("--proj-kernel", type=int, choices=(1, 3), default=3,
                   help="--variant mxnet only: kernel of the stride-2 shortcut projection "
                        "(3 as in the MXNet code, default; or 1)")
    g = parent.add_argument_group("sizes")
    g.add_argument("--classes", type=_bounded("--classes", UINT32_MAX,
                                              "num_output is a uint32"), metavar="K",
                   help="classifier outputs (default 1000 ImageNet, 10 CIFAR)")
    g.add_argument("--input-size", type=_bounded("--input-size", INT32_MAX,
                                                 "Caffe's dimensions are 32-bit"), metavar="S",
                   help="input height and width (default 224 ImageNet, 32 CIFAR)")
    g.add_argument("--batch", type=_bounded("--batch", INT32_MAX,
                                            "Caffe's dimensions are 32-bit"), metavar="B",
                   help="batch size (default 1 for deploy nets; 256 ImageNet / 128 CIFAR "
                        "with --train)")
    return parent


def _build(args: argparse.Namespace, train: bool = False, data: Optional[DataSpec] = None,
           bn_momentum: Optional[float] = None):
    """The net the selection and architecture flags describe."""
    return build(depth=args.depth, n=args.n, shortcut=args.shortcut, preact=args.preact,
                 variant=args.variant, classes=args.classes, input_size=args.input_size,
                 batch=args.batch, name=args.name, train=train, proj_kernel=args.proj_kernel,
                 data=data, bn_momentum=bn_momentum)


def _floats(text: str) -> tuple:
    """``"104,117,123"`` -> ``(104.0, 117.0, 123.0)`` (argparse type)."""
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}")


def _positive(kind):
    def check(text: str):
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {text!r}")
        return value
    return check


def _data_parent() -> argparse.ArgumentParser:
    """Flags of a train net's Data layers (``prototxt --train`` only)."""
    parent = argparse.ArgumentParser(add_help=False)
    g = parent.add_argument_group("train data (with --train; defaults: the paper's "
                                  "ImageNet or CIFAR-10 LMDBs)")
    g.add_argument("--source", metavar="PATH", help="the TRAIN Data layer's database")
    g.add_argument("--test-source", metavar="PATH", help="the TEST Data layer's database")
    g.add_argument("--test-batch", type=_positive(int), metavar="B",
                   help="TEST batch size (default 50 ImageNet, 100 CIFAR)")
    g.add_argument("--backend", type=str.upper, choices=("LMDB", "LEVELDB"),
                   help="database format (default LMDB)")
    g.add_argument("--mean-values", type=_floats, metavar="V[,V...]",
                   help="per-channel means subtracted by the Data layers (replaces the "
                        "CIFAR mean file)")
    g.add_argument("--mean-file", metavar="FILE", help="a mean .binaryproto instead")
    g.add_argument("--scale", type=_positive(float), metavar="S",
                   help="multiply after subtracting the mean (Caffe's transform_param "
                        "scale; default 1)")
    g.add_argument("--no-mirror", action="store_true",
                   help="no random horizontal flips in TRAIN (e.g. for digits or text)")
    g.add_argument("--crop", type=int, metavar="C",
                   help="crop_size (default the input size; 0: no crop, the database "
                        "holds images of the input size)")
    g.add_argument("--bn-momentum", type=float, metavar="F",
                   help="BatchNorm moving_average_fraction (default Caffe's 0.999, the "
                        "MXNet variant's 0.9); ~0.9 suits a training of a few hundred "
                        "iterations")
    return parent


#: ``prototxt`` flag -> DataSpec field, for the flags copied as they are.
_DATA_FIELDS = {"source": "train_source", "test_source": "test_source",
                "test_batch": "test_batch", "backend": "backend", "scale": "scale",
                "crop": "crop"}


def _data_spec(args: argparse.Namespace) -> Optional[DataSpec]:
    """The family's default Data facts with the data flags applied (None: no flag given)."""
    changes = {field: getattr(args, flag) for flag, field in _DATA_FIELDS.items()
               if getattr(args, flag) is not None}
    if args.no_mirror:
        changes["mirror"] = False
    if args.mean_values is not None and args.mean_file is not None:
        raise UsageError("give --mean-values or --mean-file, not both (Caffe refuses both)")
    if args.mean_values is not None:
        changes.update(mean_value=args.mean_values, mean_file=None)
    if args.mean_file is not None:
        changes.update(mean_file=args.mean_file, mean_value=())
    if args.crop is not None and args.crop < 0:
        raise UsageError(f"--crop must be 0 (no crop) or positive, got {args.crop}")
    if not changes:
        return None
    if not args.train:
        raise UsageError("the train data flags (--source, --mean-values, ...) need --train")
    return replace(default_data(family_of(args.depth, args.n, args.variant)), **changes)


def add_prototxt(sub, parents: List[argparse.ArgumentParser]) -> None:
    """The ``prototxt`` command: a deploy net, or a train_val net with --train."""
    p = sub.add_parser("prototxt",
                       parents=parents + [_selection_parent(), _architecture_parent(),
                                          _data_parent()],
                       help="write a net (deploy by default, train_val with --train)",
                       description="Write a ResNet as Caffe prototxt.\n\n" + SELECTION,
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--train", action="store_true",
                   help="train_val net: LMDB Data layers (TRAIN/TEST), BatchNorm in train "
                        "mode, MSRA fillers, SoftmaxWithLoss and Accuracy")
    p.add_argument("--draw", metavar="NET.svg",
                   help="also draw the net (.svg, .png or .pdf; needs Graphviz's 'dot')")
    p.set_defaults(func=cmd_prototxt)


def cmd_prototxt(args: argparse.Namespace) -> None:
    """Build the selected net and write its prototxt (and its drawing, with --draw)."""
    if args.bn_momentum is not None and not (args.train and 0 < args.bn_momentum < 1):
        raise UsageError("--bn-momentum needs --train and a value between 0 and 1")
    if args.draw:
        from ..draw import check_format
        check_format(args.draw)
    net = _build(args, train=args.train, data=_data_spec(args), bn_momentum=args.bn_momentum)
    text = emit_prototxt(net)
    if args.draw:  # drawn first: a failed drawing leaves no prototxt behind either
        from ..draw import render
        from ..netinfo import describe
        render(describe(net.copy()), args.draw)
    write_output(text, args.output)


def add_mxnet(sub, parents: List[argparse.ArgumentParser]) -> None:
    """The ``mxnet`` command: the same net as an (untrained) MXNet symbol JSON."""
    p = sub.add_parser("mxnet", parents=parents + [_selection_parent(), _architecture_parent()],
                       help="write a net as MXNet symbol JSON (needs mxnet)",
                       description="Write the same generated net as an untrained MXNet "
                                   "symbol (input 'data', any batch size), built from the "
                                   "same IR as the prototxt.\n\n" + SELECTION,
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--train", action="store_true",
                   help="a symbol that trains: BatchNorm on batch statistics (moving averages "
                        "kept for inference) with its Scale's gamma/beta, the output Softmax "
                        "as SoftmaxOutput with the label 'softmax_label', the net's "
                        "lr_mult/decay_mult as __lr_mult__/__wd_mult__ (default: the "
                        "inference symbol, BatchNorm on its stored statistics)")
    p.set_defaults(func=cmd_mxnet)


def cmd_mxnet(args: argparse.Namespace) -> None:
    """Build the selected net and write its MXNet symbol JSON (trainable with --train)."""
    net = _build(args)
    net.validate()
    from ..backends.mxnet import net_to_symbol_json  # mxnet only for this command
    write_output(net_to_symbol_json(net, train=args.train), args.output)


def add_solver(sub, parents: List[argparse.ArgumentParser]) -> None:
    """The ``solver`` command: the paper's schedule for the selected family."""
    p = sub.add_parser("solver", parents=parents + [_selection_parent()],
                       help="write the paper's solver schedule for a net",
                       description="Write a Caffe solver with the paper's schedule: CIFAR "
                                   "(--n) lr 0.1, /10 at 32k and 48k, 64k iterations; "
                                   "ImageNet (--depth) lr 0.1 stepped /10 every 150k "
                                   "iterations (Caffe has no plateau policy), 600k "
                                   "iterations. Both: momentum 0.9, weight decay 1e-4.",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--net", metavar="PATH",
                   help="the train_val prototxt the solver points at (default "
                        "'<name>-train_val.prototxt')")
    g = p.add_argument_group("a shorter schedule (the solver type, momentum and weight "
                             "decay stay the paper's)")
    g.add_argument("--base-lr", type=_positive(float), metavar="LR",
                   help="starting learning rate (paper: 0.1)")
    g.add_argument("--max-iter", type=_positive(int), metavar="N",
                   help="iterations in all")
    g.add_argument("--steps", type=_ints, metavar="I[,I...]",
                   help="iterations where the rate drops by 10 (CIFAR: multistep "
                        "stepvalues; ImageNet: one stepsize)")
    g.add_argument("--test-iter", type=_positive(int), metavar="N",
                   help="TEST batches per test (test images / test batch)")
    g.add_argument("--test-interval", type=_positive(int), metavar="N",
                   help="iterations between tests")
    g.add_argument("--display", type=int, metavar="N",
                   help="iterations between loss prints (0: never)")
    g.add_argument("--snapshot", type=int, metavar="N", help="0: no periodic snapshots")
    g.add_argument("--snapshot-prefix", metavar="PREFIX",
                   help="path prefix of snapshots (default: the net's name)")
    g.add_argument("--mode", type=str.upper, choices=("CPU", "GPU"), help="solver_mode")
    g.add_argument("--seed", type=int, metavar="S", help="random_seed (fillers, shuffling)")
    p.set_defaults(func=cmd_solver)


def _ints(text: str) -> tuple:
    """``"300,400"`` -> ``(300, 400)`` (argparse type)."""
    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}")


#: ``solver`` flag -> SolverParameter field, for the flags copied as they are.
_SOLVER_FIELDS = {"base_lr": "base_lr", "max_iter": "max_iter", "test_iter": "test_iter",
                  "test_interval": "test_interval", "display": "display",
                  "snapshot": "snapshot", "snapshot_prefix": "snapshot_prefix",
                  "seed": "random_seed"}


def _solver_changes(args: argparse.Namespace, family: str) -> dict:
    changes = {field: getattr(args, flag) for flag, field in _SOLVER_FIELDS.items()
               if getattr(args, flag) is not None}
    if args.mode is not None:
        changes["solver_mode"] = Enum(args.mode)
    if args.steps is not None:
        if family == "imagenet":
            if len(args.steps) != 1:
                raise UsageError("ImageNet's step policy takes one --steps value (stepsize)")
            changes["stepsize"] = args.steps[0]
        else:
            changes["stepvalue"] = list(args.steps)
    return changes


def cmd_solver(args: argparse.Namespace) -> None:
    """Write the solver of the selected family."""
    family = family_of(args.depth, args.n, args.variant)
    # Building the net validates depth/n and gives the default name the files share.
    name = args.name or build(depth=args.depth, n=args.n, variant=args.variant).name
    net_path = args.net or f"{name}-train_val.prototxt"
    if family == "imagenet":
        fields, comments = imagenet_schedule(net_path, name)
    else:
        n = args.n if args.n is not None else DEFAULT_MXNET_N
        fields, comments = cifar_schedule(net_path, name, n)
    changes = _solver_changes(args, family)
    if changes:
        fields = with_changes(fields, changes)
        comments = comments + ["Shortened for this data by resnet-gen's flags; changed: "
                               + ", ".join(changes) + "."]
    write_output(emit_solver(fields, comments), args.output)


#: Subcommand registrars, in --help order.
COMMANDS: List[Callable] = [add_prototxt, add_solver, add_mxnet]


def build_parser() -> argparse.ArgumentParser:
    """The full ``resnet-gen`` parser."""
    parser = OneLineParser(prog=PROG, description=DESCRIPTION, epilog=EPILOG,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show the Python traceback of an error")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser,
                                title="commands (see 'resnet-gen COMMAND --help')")
    parents = [_common_parent()]
    for register in COMMANDS:
        register(sub, parents)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Console entry point; returns the exit status (2 on any error)."""
    return run_main(PROG, build_parser, argv)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
