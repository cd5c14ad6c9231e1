"""Code generators for Convolution and Deconvolution: ``nn.Conv{1,2,3}d`` /
``nn.ConvTranspose{1,2,3}d`` with the per-axis geometry Caffe's base_conv_layer.cpp gives
(resolved by the framework-free :func:`converter.layers.conv.geometry` the back ends use too).
"""

from __future__ import annotations

from ..errors import UnsupportedLayerError
from ..layers.conv import ConvGeometry, geometry
from .layer_text import _op, kwargs, pair, register


def axes(values) -> str:
    """``3`` when every spatial axis has the same value, else the tuple (``(3, 5)``)."""
    if len(values) == 2:
        return pair(values)
    return str(values[0]) if len(set(values)) == 1 else str(tuple(values))


def _geometry(layer, shape) -> ConvGeometry:
    g = geometry(layer, shape)
    if len(g.kernel) not in (1, 2, 3):
        raise UnsupportedLayerError(f"{len(g.kernel)} spatial axes: PyTorch convolves over "
                                    "1, 2 or 3 only")
    return g


def _module(cls: str, layer, shape, g: ConvGeometry) -> str:
    """The constructor text of ``nn.{cls}{n}d`` for ``layer`` over ``shape``."""
    p, n = layer.params, len(g.kernel)
    ones, zeros = (1,) * n, (0,) * n
    return (f"nn.{cls}{n}d({shape[g.axis]}, {p.num_output}, kernel_size={axes(g.kernel)}"
            + kwargs(stride=axes(g.stride) if g.stride != ones else None,
                     padding=axes(g.pad) if g.pad != zeros else None,
                     dilation=axes(g.dilation) if g.dilation != ones else None,
                     groups=p.group if p.group != 1 else None,
                     bias=None if p.bias_term else "False") + ")")


def _call(g: ConvGeometry, shape) -> str:
    """The call of the module: base_conv_layer.cpp treats the axes before the channel axis as
    independent inputs, so with channels elsewhere than axis 1 they become one batch axis."""
    if g.axis == 1:
        return "{m}({0})"
    if g.axis == 0:
        return "{m}({0}.unsqueeze(0)).squeeze(0)"
    lead = ", ".join(["-1"] + [str(d) for d in shape[1:g.axis]])
    return f"{{m}}({{0}}.flatten(0, {g.axis - 1})).unflatten(0, ({lead}))"


def _tensors(layer, blobs) -> dict:
    tensors = {"weight": blobs[0]}
    if layer.params.bias_term:
        tensors["bias"] = blobs[1]
    return tensors


@register("Convolution")
def convolution(layer, shapes, blobs):
    p, g = layer.params, _geometry(layer, shapes[0])
    module, call = _module("Conv", layer, shapes[0], g), _call(g, shapes[0])
    if len(g.kernel) != 2 or g.axis != 1:
        # Not the 2-D NCHW convolution the ResNet matcher rebuilds as nn.Conv2d.
        return [_op(layer, "conv_nd", module=module, call=call,
                    tensors=_tensors(layer, blobs))]
    facts = dict(cin=shapes[0][1], cout=p.num_output, kernel=g.kernel, stride=g.stride,
                 pad=g.pad, dilation=g.dilation, groups=p.group, bias=p.bias_term)
    return [_op(layer, "conv", module=module, tensors=_tensors(layer, blobs), facts=facts)]


@register("Deconvolution")
def deconvolution(layer, shapes, blobs):
    # deconv_layer.cpp: the transpose of the convolution with the same geometry; Caffe's
    # weight (C_in, num_output / group) + kernel is nn.ConvTranspose's layout, and its output
    # size stride * (in - 1) + dilation * (k - 1) + 1 - 2 * pad (no output padding).
    g = _geometry(layer, shapes[0])
    return [_op(layer, "deconv", module=_module("ConvTranspose", layer, shapes[0], g),
                call=_call(g, shapes[0]), tensors=_tensors(layer, blobs))]
