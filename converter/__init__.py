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
