"""InnerProduct in MXNet."""

from __future__ import annotations

import mxnet as mx
import numpy as np

from .registry import canonical_axis, register


@register("InnerProduct")
def inner_product(ctx, layer, bottoms):
    """y = flatten(x from axis) . W^T + b; ``transpose`` blobs are stored (K, N), so the MXNet
    weight is their transpose (MXNet's FullyConnected always wants (N, K))."""
    p, shape = layer.params, ctx.shape(layer.bottoms[0])
    axis = canonical_axis(p.axis, len(shape))
    weight = ctx.blob(layer, 0)
    wshape = layer.blob_shapes[0][::-1] if p.transpose else layer.blob_shapes[0]
    if weight is not None and p.transpose:
        weight = np.asarray(weight).T
    args = {"weight": ctx.weight(layer, 0, f"{layer.name}_weight", wshape, weight)}
    if p.bias_term:
        args["bias"] = ctx.weight(layer, 1, f"{layer.name}_bias", layer.blob_shapes[1])
    fc = dict(num_hidden=p.num_output, no_bias=not p.bias_term, name=layer.name, **args)
    x = bottoms[0]
    if axis == 1:
        return [mx.sym.FullyConnected(x, flatten=True, **fc)]
    if axis == 0:  # Caffe flattens everything, batch included, into one row: output (N,)
        x = mx.sym.reshape(x, shape=(1, -1), name=f"{layer.name}_flat")
        y = mx.sym.FullyConnected(x, flatten=False, **{**fc, "name": f"{layer.name}_fc"})
        return [mx.sym.reshape(y, shape=(-1,), name=layer.name)]
    # Leading axes are kept (batch dynamic via 0, the others static), the rest flattened.
    x = mx.sym.reshape(x, shape=(0,) + tuple(shape[1:axis]) + (-1,), name=f"{layer.name}_flat")
    return [mx.sym.FullyConnected(x, flatten=False, **fc)]
