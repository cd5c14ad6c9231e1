"""``resnet-gen``: write Caffe prototxt for the paper's ResNets, and their solvers.

Commands are registered in :data:`COMMANDS`: each entry adds its subparser and sets
``func``. A new command (e.g. ``mxnet``) is one more ``add_*`` function appended there; it
should import heavy frameworks inside its ``func`` so the other commands stay light.
This module imports neither torch nor mxnet.
"""

from __future__ import annotations

import argparse
from typing import Callable, List, Optional, Sequence

from .. import __version__
from ..builders import DEFAULT_DEPTH, DEFAULT_MXNET_N, IMAGENET_DEPTHS, build, family_of
from ..builders.solver import cifar_schedule, imagenet_schedule
from ..emit import emit_prototxt, emit_solver
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


def _build(args: argparse.Namespace, train: bool = False):
    """The net the selection and architecture flags describe."""
    return build(depth=args.depth, n=args.n, shortcut=args.shortcut, preact=args.preact,
                 variant=args.variant, classes=args.classes, input_size=args.input_size,
                 batch=args.batch, name=args.name, train=train, proj_kernel=args.proj_kernel)


def add_prototxt(sub, parents: List[argparse.ArgumentParser]) -> None:
    """The ``prototxt`` command: a deploy net, or a train_val net with --train."""
    p = sub.add_parser("prototxt",
                       parents=parents + [_selection_parent(), _architecture_parent()],
                       help="write a net (deploy by default, train_val with --train)",
                       description="Write a ResNet as Caffe prototxt.\n\n" + SELECTION,
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--train", action="store_true",
                   help="train_val net: LMDB Data layers (TRAIN/TEST), BatchNorm in train "
                        "mode, MSRA fillers, SoftmaxWithLoss and Accuracy")
    p.add_argument("--draw", metavar="NET.svg",
                   help="also draw the net (.svg, .png or .pdf; needs Graphviz's 'dot')")
    p.set_defaults(func=run_prototxt)


def run_prototxt(args: argparse.Namespace) -> None:
    """Build the selected net and write its prototxt (and its drawing, with --draw)."""
    if args.draw:
        from ..draw import check_format
        check_format(args.draw)
    net = _build(args, train=args.train)
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
    p.set_defaults(func=run_mxnet)


def run_mxnet(args: argparse.Namespace) -> None:
    """Build the selected net and write its MXNet symbol JSON."""
    net = _build(args)
    net.validate()
    from ..backends.mxnet import net_to_symbol_json  # mxnet only for this command
    write_output(net_to_symbol_json(net), args.output)


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
    p.set_defaults(func=run_solver)


def run_solver(args: argparse.Namespace) -> None:
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
