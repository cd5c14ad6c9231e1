"""Conversion jobs: caffemodel -> PyTorch files or MXNet checkpoints.

These functions are what the ``resnet-convert`` commands call; they are also the Python API
for scripts. Framework modules are imported only inside the job that needs them.
Every output is written atomically (see :mod:`converter.fileio`): on any error, no file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence

from . import progress
from .errors import UsageError
from .fileio import atomic_write, check_outputs, check_writable
from .ir import Net
from .preprocess import Preprocess, fold_rgb, make_preprocess

TORCH_FORMATS = (".safetensors", ".pt2", ".onnx", ".py")


@dataclass
class Options:
    """Options shared by every conversion (the CLI flags of the same names)."""
    prototxt: Optional[str] = None
    input_shape: Optional[Sequence[int]] = None
    outputs: Optional[Sequence[str]] = None
    mean: Optional[str] = None
    mean_values: Optional[Sequence[float]] = None
    rgb: bool = False
    fold_bn: bool = False
    allow_nonfinite: bool = False
    caffe_proto: Optional[str] = None


def load_for_conversion(model, opts: Options, *, lazy: bool = False):
    """Read the model and apply the options that act on the weights (``--rgb``).
    Returns ``(net, weights, preprocess)``; ``lazy`` leaves values in the file where it can
    (see :func:`converter.caffe.loader.load_caffe`)."""
    from .caffe.loader import load_caffe
    net, weights = load_caffe(model, opts.prototxt, opts.input_shape,
                              allow_nonfinite=opts.allow_nonfinite, lazy=lazy,
                              caffe_proto=opts.caffe_proto)
    _check_outputs(net, opts.outputs, model)
    pre = make_preprocess(net, opts.mean, opts.mean_values)
    if opts.rgb:
        weights, pre = fold_rgb(net, weights, pre)
    return net, weights, pre


def _check_outputs(net: Net, outputs, model) -> None:
    """Refuse unknown ``--outputs`` names before any framework work, listing what exists."""
    if not outputs:
        return
    known = net.blob_names()
    missing = [o for o in outputs if o not in known]
    if missing:
        raise UsageError(f"--outputs: no blob named {', '.join(map(repr, missing))} "
                         f"(blobs: {', '.join(known[:8])}, ...)", file=model)


def _input_shape(net: Net) -> Sequence[int]:
    shapes = list(net.input_blobs().values())
    if len(shapes) != 1:
        raise UsageError(f"exporting needs exactly one input blob, the net has {len(shapes)}")
    return shapes[0]


def caffe2torch(model, out=None, opts: Optional[Options] = None) -> Path:
    """Convert ``model`` (.caffemodel) to ``out``: .safetensors (default: MODEL.safetensors),
    .pt2 (torch.export, dynamic batch), .onnx, or .py (a standalone PyTorch module, with
    its weights in the .safetensors beside it). Returns the written path."""
    opts = opts or Options()
    out = Path(out) if out else Path(model).with_suffix(".safetensors")
    if out.suffix not in TORCH_FORMATS:
        raise UsageError(f"-o must end in {', '.join(TORCH_FORMATS)}", file=out)
    if out.suffix == ".py":
        _check_paths([out, out.with_suffix(".safetensors")], model, opts)
        _caffe2python(model, out, opts)
        return out
    _check_paths([out], model, opts)
    if out.suffix == ".safetensors" and not opts.fold_bn and not opts.rgb:
        _caffe2safetensors(model, out, opts)
        return out
    with progress.steps(f"caffe2torch {out.name}",
                        ("reading", "building", "exporting", "writing")) as job:
        job.step("reading the caffemodel")
        net, weights, pre = load_for_conversion(model, opts)
        job.step("building the module")
        from .backends.torch import export as torch_export
        from .backends.torch.net import to_torch
        module = to_torch(net, weights, outputs=torch_outputs(opts.outputs),
                          fold_bn=opts.fold_bn)
        job.step("writing" if out.suffix == ".safetensors" else f"exporting {out.suffix}")
        if out.suffix == ".safetensors":
            torch_export.save_safetensors(module, net, out, pre, fold_bn=opts.fold_bn)
        elif out.suffix == ".pt2":
            torch_export.export_pt2(module, out, _input_shape(net), pre)
        else:
            torch_export.export_onnx(module, out, _input_shape(net), pre)
    return out


def torch_outputs(outputs: Optional[Sequence[str]]):
    """``--outputs`` as the torch back end takes it: one name (a tensor is returned, as
    from the Python API), a list of two or more (a tuple), or None (the net's outputs)."""
    if not outputs:
        return None
    return outputs[0] if len(outputs) == 1 else list(outputs)


def _caffe2safetensors(model, out: Path, opts: Options) -> None:
    """The plain .safetensors job, streamed: every value that is stored unchanged goes from
    the caffemodel to the output in chunks, so the weights are never all in memory."""
    net, weights, pre = load_for_conversion(model, opts, lazy=True)
    from .backends.torch import export as torch_export
    from .backends.torch.net import build_module, to_torch
    from .backends.torch.module import weights_follow
    outputs = torch_outputs(opts.outputs)
    with weights_follow():  # the module's values are never used: do not fill them
        module = build_module(net, outputs)
    if not torch_export.save_safetensors_streamed(module, net, weights, out, pre):
        module = to_torch(net, weights, outputs=outputs)  # reads the FileBlobs
        torch_export.save_safetensors(module, net, out, pre)


def _caffe2python(model, out: Path, opts: Options) -> None:
    """The .py job: a standalone PyTorch module file plus OUT.safetensors beside it."""
    if opts.fold_bn:
        raise UsageError("--fold-bn does not apply to a .py output: the generated module "
                         "keeps BatchNorm so that it can be trained", file=out)
    net, weights, pre = load_for_conversion(model, opts)
    from .codegen import write_python
    write_python(out, net, weights, pre, outputs=opts.outputs)


def caffe2mxnet(model, prefix=None, opts: Optional[Options] = None) -> List[Path]:
    """Convert ``model`` to ``PREFIX-symbol.json`` + ``PREFIX-0000.params`` (+ the
    preprocessing facts in ``PREFIX-preprocess.json``), all or nothing. Returns the paths."""
    opts = opts or Options()
    if opts.fold_bn:
        raise UsageError("--fold-bn is only implemented for caffe2torch")
    prefix = str(prefix) if prefix else str(Path(model).with_suffix(""))
    files = [f"{prefix}-symbol.json", f"{prefix}-0000.params", f"{prefix}-preprocess.json"]
    _check_paths(files, model, opts)
    with progress.steps(f"caffe2mxnet {Path(prefix).name}",
                        ("reading", "building", "writing")) as job:
        job.step("reading the caffemodel")
        # Lazy: values stored unchanged stay in the caffemodel and are streamed from it into
        # the .params file, so the weights are never all in memory (--rgb edits conv1: eager).
        net, weights, pre = load_for_conversion(model, opts, lazy=not opts.rgb)
        job.step("building the symbol")
        from .backends.mxnet import save_checkpoint, to_mxnet_values
        from .streaming import unwritten_blobs
        symbol, args, aux = to_mxnet_values(net, weights, outputs=opts.outputs)
        job.step("writing the checkpoint")
        extra = {files[2]: pre.to_json(include_mean=True) + "\n"}
        written = [*args.values(), *aux.values()]
        paths = save_checkpoint(prefix, symbol, args, aux, extra_files=extra,
                                verify=unwritten_blobs(weights, written))
    return [Path(p) for p in paths]


def _check_paths(outputs: Sequence, model, opts: Options) -> None:
    """Before any work: no output may be an input, and every output folder must take it."""
    check_outputs(outputs, [model, opts.prototxt, opts.mean, opts.caffe_proto])
    check_writable(*outputs)


def save_preprocess_json(pre: Preprocess, path: Path) -> Path:
    """Write the preprocessing facts (mean image included, as nested lists) atomically."""
    atomic_write(path, pre.to_json(include_mean=True) + "\n")
    return path
