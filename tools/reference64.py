"""A plain numpy float64 evaluator of Caffe nets: the exact reference for golden tolerances.

The golden maker (``make_golden.py``, inside the Caffe chroot) runs it on the same weights and
input as Caffe, so that each golden file can say how far Caffe's float32 output is from the
exact result, blob by blob and channel by channel (``golden_tolerance.py``).  It is written
from Caffe's layer semantics, not from the converter: it imports nothing of the project, only
numpy (1.19 in the chroot, 1.23+ on the host), and covers the layer types the golden cases use.

A layer is a ``Layer`` tuple: its name, type, bottom and top blob names, its LayerParameter
(``caffe_pb2``, only read) and its parameter blobs.  Blob shapes of the shape-only layers
(Reshape, Flatten) are taken from Caffe's own shapes: they move no numbers.
"""
import collections
import math

import numpy as np

Layer = collections.namedtuple("Layer", "name type bottoms tops param blobs")

#: Caffe's MAX pooling starts every window at -FLT_MAX (pooling_layer.cpp).
FLT_MAX = float(np.finfo(np.float32).max)


def _pair(values, single, h, w, default):
    """Caffe's kernel/pad/stride fields: ``*_h``/``*_w`` win over the repeated field."""
    if single and (h or w):
        return h, w
    values = list(values)
    if not values:
        return default, default
    return values[0], values[-1]


def _conv_geometry(p):
    """(kernel, pad, stride, dilation) pairs of a ConvolutionParameter."""
    kernel = _pair(p.kernel_size, p.HasField("kernel_h"), p.kernel_h, p.kernel_w, 1)
    pad = _pair(p.pad, p.HasField("pad_h"), p.pad_h, p.pad_w, 0)
    stride = _pair(p.stride, p.HasField("stride_h"), p.stride_h, p.stride_w, 1)
    dilation = _pair(p.dilation, False, 0, 0, 1)
    return kernel, pad, stride, dilation


def convolution(x, layer):
    """Caffe's Convolution (conv_layer.cpp via im2col): groups, dilation, pad, stride, bias."""
    p = layer.param.convolution_param
    (kh, kw), (ph, pw), (sh, sw), (dh, dw) = _conv_geometry(p)
    weight = layer.blobs[0]
    group = p.group
    n, c, h, w = x.shape
    out_h = (h + 2 * ph - (dh * (kh - 1) + 1)) // sh + 1
    out_w = (w + 2 * pw - (dw * (kw - 1) + 1)) // sw + 1
    padded = np.zeros((n, c, h + 2 * ph, w + 2 * pw))
    padded[:, :, ph:ph + h, pw:pw + w] = x
    out = np.zeros((n, weight.shape[0], out_h, out_w))
    cg, og = c // group, weight.shape[0] // group
    for g in range(group):
        block = padded[:, g * cg:(g + 1) * cg]
        wg = weight[g * og:(g + 1) * og]
        for i in range(kh):
            for j in range(kw):
                patch = block[:, :, i * dh:i * dh + sh * (out_h - 1) + 1:sh,
                              j * dw:j * dw + sw * (out_w - 1) + 1:sw]
                out[:, g * og:(g + 1) * og] += np.einsum("nchw,oc->nohw", patch,
                                                         wg[:, :, i, j], optimize=True)
    if p.bias_term:
        out += layer.blobs[1].reshape(1, -1, 1, 1)
    return out


def _pooled(size, kernel, pad, stride, ceil):
    """Caffe's pooled extent: ceil (or floor) division, then the clip that keeps the last
    window starting inside the image plus the top/left padding (pooling_layer.cpp)."""
    steps = (size + 2 * pad - kernel) / stride
    out = int(math.ceil(steps) if ceil else math.floor(steps)) + 1
    if pad and (out - 1) * stride >= size + pad:
        out -= 1
    return out


def pooling(x, layer):
    """Caffe's MAX / AVE pooling.  AVE divides by the window clipped to the padded image
    (padding counts, the overhang beyond it does not); MAX ignores padding."""
    p = layer.param.pooling_param
    n, c, h, w = x.shape
    if p.global_pooling:
        (kh, kw), (ph, pw), (sh, sw) = (h, w), (0, 0), (1, 1)
    else:
        kh, kw = ((p.kernel_h, p.kernel_w) if p.HasField("kernel_h")
                  else (p.kernel_size, p.kernel_size))
        ph, pw = (p.pad_h, p.pad_w) if p.HasField("pad_h") else (p.pad, p.pad)
        sh, sw = (p.stride_h, p.stride_w) if p.HasField("stride_h") else (p.stride, p.stride)
    ceil = getattr(p, "round_mode", 0) == 0
    out_h, out_w = _pooled(h, kh, ph, sh, ceil), _pooled(w, kw, pw, sw, ceil)
    out = np.zeros((n, c, out_h, out_w))
    for i in range(out_h):
        for j in range(out_w):
            h0, w0 = i * sh - ph, j * sw - pw
            h1, w1 = min(h0 + kh, h + ph), min(w0 + kw, w + pw)
            area = (h1 - h0) * (w1 - w0)
            window = x[:, :, max(h0, 0):min(h1, h), max(w0, 0):min(w1, w)]
            if p.pool == 0:  # MAX
                out[:, :, i, j] = (window.max(axis=(2, 3)) if window.size
                                   else -FLT_MAX)
            elif p.pool == 1:  # AVE
                with np.errstate(invalid="ignore", divide="ignore"):
                    out[:, :, i, j] = window.sum(axis=(2, 3)) / area
            else:
                raise ValueError("%s: no float64 reference for this pooling" % layer.name)
    return out


def _channel(shape, axis=1):
    """A broadcasting shape for a per-channel vector along ``axis``."""
    return [1] * axis + [-1] + [1] * (len(shape) - axis - 1)


def batchnorm(x, layer):
    """Caffe's BatchNorm with global statistics: mean and var are blobs 0/1 divided by the
    scale factor in blob 2, and a factor of 0 means 0 (batch_norm_layer.cpp)."""
    factor = float(layer.blobs[2].reshape(-1)[0])
    inverse = 0.0 if factor == 0 else 1.0 / factor
    mean = layer.blobs[0] * inverse
    var = layer.blobs[1] * inverse
    eps = layer.param.batch_norm_param.eps
    shape = _channel(x.shape)
    return (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps)


def scale(bottoms, layer):
    """Caffe's Scale: a factor spanning ``num_axes`` axes from ``axis`` (a learned blob, or
    the second bottom), broadcast over the rest, plus an optional bias (scale_layer.cpp)."""
    x = bottoms[0]
    p = layer.param.scale_param
    axis = p.axis % x.ndim if x.ndim else 0
    blobs = list(layer.blobs)
    if len(bottoms) == 2:
        factor, span = bottoms[1], bottoms[1].ndim
    else:
        factor = blobs.pop(0)
        span = p.num_axes if p.num_axes >= 0 else x.ndim - axis
    inner = x.shape[axis:axis + span]
    shape = (1,) * axis + tuple(inner) + (1,) * (x.ndim - axis - span)
    out = x * factor.reshape(shape)
    if p.bias_term:
        out = out + blobs[0].reshape(shape)
    return out


def inner_product(x, layer):
    """Caffe's InnerProduct: flatten from ``axis``; weight (out, in), or (in, out) when
    ``transpose``."""
    p = layer.param.inner_product_param
    axis = p.axis % x.ndim
    flat = x.reshape(int(np.prod(x.shape[:axis])), -1)
    weight = layer.blobs[0]
    out = flat @ (weight if p.transpose else weight.T)
    if p.bias_term:
        out = out + layer.blobs[1].reshape(1, -1)
    return out.reshape(x.shape[:axis] + (out.shape[1],))


def softmax(x, layer):
    """Caffe's Softmax along ``axis`` (max subtracted first, as softmax_layer.cpp does)."""
    axis = layer.param.softmax_param.axis % x.ndim
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def eltwise(bottoms, layer):
    """Caffe's Eltwise: PROD (0), SUM (1, with optional coefficients) or MAX (2)."""
    p = layer.param.eltwise_param
    if p.operation == 0:
        return np.prod(np.stack(bottoms), axis=0)
    if p.operation == 2:
        return np.max(np.stack(bottoms), axis=0)
    coeff = list(p.coeff) or [1.0] * len(bottoms)
    return sum(c * b for c, b in zip(coeff, bottoms))


def lrn(x, layer):
    """Caffe's LRN.  ACROSS_CHANNELS: x / (k + alpha/n * sum of squares over n channels)^beta.
    WITHIN_CHANNEL: x / (1 + alpha * mean of squares over an n x n window)^beta, the mean
    over n*n cells with zero padding and k unused (lrn_layer.cpp builds it from Pooling and
    Power layers)."""
    p = layer.param.lrn_param
    size, half = p.local_size, (p.local_size - 1) // 2
    squares = x * x
    if p.norm_region == 0:
        padded = np.zeros((x.shape[0], x.shape[1] + size - 1) + x.shape[2:])
        padded[:, half:half + x.shape[1]] = squares
        total = sum(padded[:, i:i + x.shape[1]] for i in range(size))
        return x * (p.k + p.alpha / size * total) ** -p.beta
    h, w = x.shape[2:]
    padded = np.zeros(x.shape[:2] + (h + size - 1, w + size - 1))
    padded[:, :, half:half + h, half:half + w] = squares
    total = sum(padded[:, :, i:i + h, j:j + w] for i in range(size) for j in range(size))
    return x * (1.0 + p.alpha * total / (size * size)) ** -p.beta


def _elementwise(layer, x):
    """The one-bottom layers that act element by element."""
    if layer.type == "ReLU":
        slope = layer.param.relu_param.negative_slope
        return np.where(x > 0, x, slope * x)
    if layer.type == "Sigmoid":
        return 1.0 / (1.0 + np.exp(-x))
    if layer.type == "TanH":
        return np.tanh(x)
    if layer.type == "Power":
        p = layer.param.power_param
        return (p.shift + p.scale * x) ** p.power
    if layer.type == "Dropout":  # the identity in the TEST phase
        return x.copy()
    return None


def run_layer(layer, bottoms, top_shapes):
    """The top arrays of one layer, given its bottom arrays (float64)."""
    x = bottoms[0] if bottoms else None
    single = {"Convolution": convolution, "Pooling": pooling, "BatchNorm": batchnorm,
              "InnerProduct": inner_product, "Softmax": softmax, "LRN": lrn}
    if layer.type in single:
        return [single[layer.type](x, layer)]
    if layer.type == "Scale":
        return [scale(bottoms, layer)]
    if layer.type == "Eltwise":
        return [eltwise(bottoms, layer)]
    if layer.type == "Split":
        return [x.copy() for _ in layer.tops]
    if layer.type == "Concat":
        p = layer.param.concat_param
        axis = p.axis if p.HasField("axis") or not p.HasField("concat_dim") else p.concat_dim
        return [np.concatenate(bottoms, axis=axis % x.ndim)]
    if layer.type in ("Flatten", "Reshape"):  # C-order views; Caffe fixed the shape
        return [x.reshape(top_shapes[layer.tops[0]])]
    out = _elementwise(layer, x)
    if out is None:
        raise ValueError("%s: no float64 reference for layer type %s" % (layer.name, layer.type))
    return [out]


def forward(layers, inputs, top_shapes):
    """Every blob of the net in float64: {blob: array}, each the output of the last layer
    that wrote it (in-place layers overwrite their bottom, as in Caffe)."""
    blobs = {name: np.asarray(value, np.float64) for name, value in inputs.items()}
    for layer in layers:
        if layer.type == "Input":
            continue
        outputs = run_layer(layer, [blobs[b] for b in layer.bottoms], top_shapes)
        blobs.update(zip(layer.tops, outputs))
    return blobs
