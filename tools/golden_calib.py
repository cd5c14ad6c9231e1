"""Fill a pycaffe net with synthetic weights and calibrated BatchNorm stats.

Runs inside the Caffe chroot only (needs pycaffe).  All random values come
from ``goldenlib`` so large nets can be rebuilt outside Caffe from the seed;
only the BatchNorm statistics depend on Caffe's own forward passes, and
those are stored in the golden files.
"""
import numpy as np
from google.protobuf import text_format
from caffe.proto import caffe_pb2

import goldenlib


def layer_params(prototxt_path):
    """Map layer name -> LayerParameter parsed from the prototxt text."""
    net_param = caffe_pb2.NetParameter()
    with open(prototxt_path) as handle:
        text_format.Merge(handle.read(), net_param)
    return {layer.name: layer for layer in net_param.layer}


def layer_table(net):
    """(name, type, layer) triples in Caffe's execution order.

    This includes the Split layers Caffe inserts and the Input layer that
    replaces the legacy ``input:`` fields, so indices match ``net.layers``.
    """
    return list(zip(net._layer_names, [l.type for l in net.layers],
                    net.layers))


def frozen(params, name, index):
    """True when the prototxt freezes blob ``index`` with ``lr_mult: 0``.

    Such blobs keep the value Caffe's own filler gave them (e.g. the
    constant-1 subsampling convolution of CIFAR shortcut A): replacing it
    would change what the net computes, not merely its weights.
    """
    specs = params[name].param if name in params else []
    return index < len(specs) and specs[index].lr_mult == 0


def is_regenerated(params, name, layer_type, index):
    """True for blobs that goldenlib recreates and large files omit."""
    return (layer_type in goldenlib.REGENERATED_TYPES and index == 0
            and not frozen(params, name, index))


def fill_learned(net, seed, params):
    """Load goldenlib weights into every layer that has learned blobs."""
    for name, ltype, layer in layer_table(net):
        if not layer.blobs:
            continue
        if ltype in goldenlib.REGENERATED_TYPES:
            transpose = (ltype == "InnerProduct"
                         and params[name].inner_product_param.transpose)
            for index, blob in enumerate(layer.blobs):
                if frozen(params, name, index):
                    continue
                blob.data[...] = goldenlib.param_blob(
                    seed, ltype, name, index, blob.data.shape, transpose)
        elif ltype == "Scale":
            fill_scale(net, seed, name, layer)
        elif (ltype, 0) in goldenlib.LEARNED_FILLERS:
            for index, blob in enumerate(layer.blobs):
                if not frozen(params, name, index):
                    blob.data[...] = goldenlib.learned_blob(
                        seed, ltype, name, index, blob.data.shape)
        elif ltype != "BatchNorm":
            raise ValueError("no synthetic filler for %s (%s)" % (name, ltype))


def fill_scale(net, seed, name, layer):
    """Set gamma/beta of a Scale layer.

    With two bottoms the scale comes from the second bottom and the only
    learned blob (if ``bias_term``) is the bias, so blob 0 is beta then.
    """
    gamma, beta = goldenlib.scale_params(seed, name, layer.blobs[0].data.shape)
    if len(net.bottom_names[name]) == 2:
        layer.blobs[0].data[...] = beta
        return
    layer.blobs[0].data[...] = gamma
    if len(layer.blobs) > 1:
        layer.blobs[1].data[...] = beta


def input_shapes(net, batch=None):
    """{input name: shape}, with the batch axis replaced by ``batch``.

    Only inputs whose leading axis equals the net's batch (that of its
    first input) change: side inputs such as a Scale layer's second bottom
    keep their shape.
    """
    current = net.blobs[net.inputs[0]].data.shape[0]
    shapes = {}
    for name in net.inputs:
        shape = tuple(net.blobs[name].data.shape)
        if batch is not None and shape and shape[0] == current:
            shape = (batch,) + shape[1:]
        shapes[name] = shape
    return shapes


def set_inputs(net, seed, scale, maker, shapes):
    """Reshape the inputs to ``shapes`` and fill them from ``maker``."""
    for name, shape in shapes.items():
        net.blobs[name].reshape(*shape)
    net.reshape()
    values = {}
    for name in net.inputs:
        values[name] = maker(seed, name, shapes[name], scale)
        net.blobs[name].data[...] = values[name]
    return values


def channel_stats(blob):
    """Per-channel (axis 1) mean and biased variance, in float64."""
    data = np.asarray(blob, dtype=np.float64)
    if data.ndim < 2:
        raise ValueError("BatchNorm input needs a channel axis")
    moved = np.moveaxis(data, 1, 0).reshape(data.shape[1], -1)
    return moved.mean(axis=1), moved.var(axis=1)


def store_bn(layer, mean, var, factor):
    """Write BN blobs the way a Caffe-trained model stores them.

    Caffe keeps running sums times a scale factor in blob 2 and divides by
    it at test time; a factor of 0 makes Caffe use mean = var = 0 whatever
    blobs 0/1 hold.  For factor 0 we therefore keep the calibrated (nonzero)
    blobs, so a converter that ignores the factor produces wrong numbers.
    """
    multiplier = factor if factor != 0 else 1.0
    layer.blobs[0].data[...] = (mean * multiplier).astype(np.float32)
    layer.blobs[1].data[...] = (var * multiplier).astype(np.float32)
    layer.blobs[2].data[...] = np.float32(factor)


def calibrate_bn(net, case):
    """Set each BN layer's statistics from Caffe's own forward pass.

    Layers run in segments: forward up to the layer before a BN, measure
    its bottom, store the statistics, then continue from the BN.  The total
    work is one forward pass however many BN layers the net has.
    """
    names = list(net._layer_names)
    start = 0
    for index, (name, ltype, layer) in enumerate(layer_table(net)):
        if ltype != "BatchNorm":
            continue
        if index > start:
            net.forward(start=names[start], end=names[index - 1])
        bottom = net.bottom_names[name][0]
        mean, var = channel_stats(net.blobs[bottom].data)
        factor = case.get("bn_factors", {}).get(name, case["bn_factor"])
        store_bn(layer, mean, var, factor)
        start = index
