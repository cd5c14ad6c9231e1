"""resnet-convert: Caffe ResNets, generated and converted exactly.

The public API is imported lazily so that ``import converter`` (and ``resnet-gen``) never
imports torch or mxnet.
"""

__version__ = "0.1.0"


def load_caffe(path, prototxt=None, **kwargs):
    """Read a caffemodel (and optionally a prototxt) into ``(Net, weights)``; see converter.caffe."""
    from .caffe.loader import load_caffe as _load
    return _load(path, prototxt=prototxt, **kwargs)


def to_torch(net, weights=None, **kwargs):
    """Build a ``torch.nn.Module`` from the IR (and load ``weights``); see converter.backends.torch."""
    from .backends.torch.net import to_torch as _to_torch
    return _to_torch(net, weights, **kwargs)


def load_torch(path):
    """Rebuild a module saved by ``resnet-convert caffe2torch`` (.safetensors); returns
    ``(module, preprocess)``."""
    from .backends.torch.export import load_torch as _load
    return _load(path)


def from_torch(model, example_inputs=None, **kwargs):
    """Lower an ``nn.Module`` or ``torch.export.ExportedProgram`` to ``(net, weights)`` for
    Caffe; see converter.frontends.torch."""
    from .frontends.torch import from_torch as _from_torch
    return _from_torch(model, example_inputs, **kwargs)


def from_mxnet(symbol, arg_params, aux_params, input_shapes, **kwargs):
    """Lower an MXNet symbol and its parameters to ``(net, weights)`` for Caffe; see
    converter.frontends.mxnet."""
    from .frontends.mxnet import from_mxnet as _from_mxnet
    return _from_mxnet(symbol, arg_params, aux_params, input_shapes, **kwargs)


def save_caffe(net, weights, prefix):
    """Write ``PREFIX.prototxt`` (deploy) and ``PREFIX.caffemodel`` atomically; see
    converter.frontends.save."""
    from .frontends.save import save_caffe as _save
    return _save(net, weights, prefix)
