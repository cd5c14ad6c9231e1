"""Export jobs: a PyTorch ``.pt2`` or an MXNet checkpoint -> ``PREFIX.prototxt`` +
``PREFIX.caffemodel`` (the library functions behind ``resnet-convert torch2caffe`` and
``mxnet2caffe``). Frameworks are imported only inside the job that needs them.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Optional, Sequence, Tuple

from .errors import UsageError


def default_prefix(path, suffix: str) -> str:
    """MODEL.pt2 -> MODEL (the output prefix when -o is not given)."""
    text = str(path)
    return text.removesuffix(suffix)


def torch2caffe(model_path, output: Optional[str] = None,
                input_shape: Optional[Sequence[int]] = None,
                name: Optional[str] = None, native_clip: bool = False) -> Tuple[Path, Path]:
    """Lower a ``torch.export`` archive to Caffe; returns the two written paths."""
    from .frontends.save import save_caffe
    from .frontends.torch import from_torch, load_program
    program, example = load_program(model_path, input_shape)
    net, weights = from_torch(program, example, name=name or Path(model_path).stem,
                              source=str(model_path), native_clip=native_clip)
    return save_caffe(net, weights, output or default_prefix(model_path, ".pt2"))


def _guessed_shape(symbol, args, aux, name: str):
    """An MXNet symbol does not record its input shape: take the first common one its
    parameters agree with, and say so."""
    from .frontends.mxnet import guess_input_shape
    shape = guess_input_shape(symbol, args, aux, name)
    if shape is None:
        raise UsageError(f"give the input shape of '{name}' with --input-shape N,C,H,W (an "
                         "MXNet symbol does not record it, and no common size fits its "
                         "parameters)")
    warnings.warn(f"no --input-shape: using {','.join(map(str, shape))}, the first common "
                  "input size at which the symbol's shapes agree with its parameters",
                  stacklevel=3)
    return shape


def mxnet2caffe(prefix, output: Optional[str] = None, epoch: Optional[int] = None,
                input_shape: Optional[Sequence[int]] = None,
                name: Optional[str] = None, native_clip: bool = False) -> Tuple[Path, Path]:
    """Lower an MXNet checkpoint (``PREFIX-symbol.json`` + ``PREFIX-NNNN.params``) to Caffe."""
    from .frontends.mxnet import data_inputs, from_mxnet, load_checkpoint
    from .frontends.save import save_caffe
    symbol, args, aux, epoch = load_checkpoint(prefix, epoch)
    inputs = data_inputs(symbol, args, aux)
    if len(inputs) != 1:
        raise UsageError(f"the symbol has {len(inputs)} data inputs {inputs}; "
                         "--input-shape gives one")
    if input_shape is None:
        input_shape = _guessed_shape(symbol, args, aux, inputs[0])
    net, weights = from_mxnet(symbol, args, aux, {inputs[0]: tuple(input_shape)},
                              name=name or Path(str(prefix)).name,
                              source=f"{prefix}-symbol.json", native_clip=native_clip)
    return save_caffe(net, weights, output or str(prefix))
