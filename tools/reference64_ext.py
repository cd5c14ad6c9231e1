"""Float64 references of the layer types issue 14 adds (see reference64.py for the contract).

Each function follows the Caffe layer's Forward_cpu (cited), in float64, from its
LayerParameter (``layer.param``, only read) and blobs; numpy only.  ``forward`` runs a net
with these and reference64's types; data layers are the net's inputs and losses/metrics are
not computed (their tops are not golden blobs).
"""
import itertools

import numpy as np

import reference64

#: Tops of these are not computed: data layers give inputs, losses/metrics are dropped.
SKIPPED = ("Input", "Data", "ImageData", "HDF5Data", "MemoryData", "WindowData",
           "DummyData", "Python", "SoftmaxWithLoss", "EuclideanLoss", "Accuracy",
           "SigmoidCrossEntropyLoss", "HingeLoss", "InfogainLoss",
           "MultinomialLogisticLoss", "ContrastiveLoss", "Silence")


def _axis(axis, ndim):
    return axis % ndim if ndim else 0


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def pointwise(x, layer):
    """AbsVal, BNLL, Clip, ELU, Exp, Log, Swish, Threshold (their *_layer.cpp)."""
    t, lp = layer.type, layer.param
    if t == "AbsVal":
        return np.abs(x)
    if t == "BNLL":
        return np.where(x > 0, x + np.log1p(np.exp(-np.abs(x))), np.log1p(np.exp(x)))
    if t == "Clip":
        return np.clip(x, lp.clip_param.min, lp.clip_param.max)
    if t == "ELU":
        return np.where(x > 0, x, lp.elu_param.alpha * (np.exp(np.minimum(x, 0)) - 1))
    if t in ("Exp", "Log"):
        p = lp.exp_param if t == "Exp" else lp.log_param
        inner = p.shift + p.scale * x
        if t == "Exp":
            return np.exp(inner) if p.base == -1 else np.power(float(p.base), inner)
        return np.log(inner) / (1.0 if p.base == -1 else np.log(float(p.base)))
    if t == "Swish":
        return x * _sigmoid(lp.swish_param.beta * x)
    if t == "Threshold":
        return (x > lp.threshold_param.threshold).astype(np.float64)
    return None


def prelu(x, layer):
    """prelu_layer.cpp: max(x, 0) + a * min(x, 0), a per channel (axis 1) or shared."""
    a = layer.blobs[0]
    if a.size > 1 or not layer.param.prelu_param.channel_shared:
        a = a.reshape([1, -1] + [1] * (x.ndim - 2))
    return np.maximum(x, 0) + a * np.minimum(x, 0)


def bias(bottoms, layer):
    """bias_layer.cpp: x + b, b (blob 0 or bottom[1]) over axes [axis, axis + b.ndim)."""
    x, p = bottoms[0], layer.param.bias_param
    if len(bottoms) == 2:
        b, span = bottoms[1], bottoms[1].ndim
    else:
        b = layer.blobs[0]
        span = p.num_axes if p.num_axes >= 0 else x.ndim - _axis(p.axis, x.ndim)
    axis = _axis(p.axis, x.ndim) if span else 0
    shape = (1,) * axis + x.shape[axis:axis + span] + (1,) * (x.ndim - axis - span)
    return x + b.reshape(shape)


def argmax(x, layer, top_shape):
    """argmax_layer.cpp: the top_k largest, largest first (ties: the larger index first)."""
    p = layer.param.argmax_param
    if p.HasField("axis"):
        axis = _axis(p.axis, x.ndim)
        moved = np.moveaxis(x, axis, -1)
        order = np.argsort(-moved, axis=-1, kind="stable")[..., :p.top_k]
        picked = np.take_along_axis(moved, order, -1) if p.out_max_val else order
        return np.moveaxis(picked.astype(np.float64), -1, axis)
    flat = x.reshape(x.shape[0], -1)
    order = np.argsort(-flat, axis=1, kind="stable")[:, :p.top_k]
    parts = [order.astype(np.float64)]
    if p.out_max_val:
        parts.append(np.take_along_axis(flat, order, 1))
    return np.stack(parts, axis=1).reshape(top_shape)


def reduction(x, layer):
    """reduction_layer.cpp: coeff * SUM (1) / ASUM (2) / SUMSQ (3) / MEAN (4) of axes
    [axis, end)."""
    p = layer.param.reduction_param
    axis = _axis(p.axis, x.ndim)
    flat = x.reshape(x.shape[:axis] + (-1,))
    values = {1: flat, 2: np.abs(flat), 3: flat * flat, 4: flat}[p.operation]
    out = values.mean(axis=-1) if p.operation == 4 else values.sum(axis=-1)
    return p.coeff * out


def mvn(x, layer):
    """mvn_layer.cpp: (x - mean) / (sqrt(mean((x - mean)^2)) + eps) per plane or sample."""
    p = layer.param.mvn_param
    dims = tuple(range(1 if p.across_channels else 2, x.ndim))
    y = x - x.mean(axis=dims, keepdims=True)
    if p.normalize_variance:
        y = y / (np.sqrt((y * y).mean(axis=dims, keepdims=True)) + p.eps)
    return y


def _geometry(p, nspatial):
    """N-D (kernel, pad, stride, dilation) of a ConvolutionParameter."""
    def field(name, default):
        if nspatial == 2 and p.HasField(name + "_h"):
            return [getattr(p, name + "_h"), getattr(p, name + "_w")]
        values = list(getattr(p, name + ("_size" if name == "kernel" else "")))
        values = values or [default]
        return values * nspatial if len(values) == 1 else values
    return (field("kernel", 1), field("pad", 0), field("stride", 1),
            list(p.dilation) * nspatial if len(p.dilation) == 1 else
            (list(p.dilation) or [1] * nspatial))


def _windows(x, kernel, pad, stride, dilation):
    """(padded x, output size, {kernel offset: strided view of the padded input})."""
    spatial = x.shape[2:]
    out = [(s + 2 * q - (d * (k - 1) + 1)) // st + 1
           for s, k, q, st, d in zip(spatial, kernel, pad, stride, dilation)]
    padded = np.pad(x, [(0, 0), (0, 0)] + [(q, q) for q in pad])
    views = {}
    for offset in itertools.product(*[range(k) for k in kernel]):
        index = tuple(slice(o * d, o * d + st * (n - 1) + 1, st)
                      for o, d, st, n in zip(offset, dilation, stride, out))
        views[offset] = padded[(slice(None), slice(None)) + index]
    return out, views


def convolution_nd(x, layer):
    """conv_layer.cpp for any number of spatial axes: groups, dilation, pad, stride, bias."""
    p, w = layer.param.convolution_param, layer.blobs[0]
    kernel, pad, stride, dilation = _geometry(p, x.ndim - 2)
    out_size, views = _windows(x, kernel, pad, stride, dilation)
    group, cg, og = p.group, x.shape[1] // p.group, w.shape[0] // p.group
    out = np.zeros((x.shape[0], w.shape[0]) + tuple(out_size))
    for g in range(group):
        for offset, view in views.items():
            block = view[:, g * cg:(g + 1) * cg]
            wk = w[(slice(g * og, (g + 1) * og), slice(None)) + offset]
            out[:, g * og:(g + 1) * og] += np.tensordot(wk, block, axes=([1], [1])
                                                        ).swapaxes(0, 1)
    if p.bias_term:
        out += layer.blobs[1].reshape([1, -1] + [1] * (x.ndim - 2))
    return out


def deconvolution(x, layer):
    """deconv_layer.cpp: the transpose of convolution_nd: every input cell adds its
    weighted kernel at stride into the output, which then loses ``pad`` on each side."""
    p, w = layer.param.convolution_param, layer.blobs[0]
    kernel, pad, stride, dilation = _geometry(p, x.ndim - 2)
    spatial = x.shape[2:]
    full = [st * (s - 1) + d * (k - 1) + 1 for s, k, st, d in
            zip(spatial, kernel, stride, dilation)]
    group, cg, og = p.group, x.shape[1] // p.group, w.shape[1]
    out = np.zeros((x.shape[0], og * group) + tuple(full))
    for g in range(group):
        xg = x[:, g * cg:(g + 1) * cg]
        for offset in itertools.product(*[range(k) for k in kernel]):
            wk = w[(slice(g * cg, (g + 1) * cg), slice(None)) + offset]
            index = tuple(slice(o * d, o * d + st * (s - 1) + 1, st)
                          for o, d, st, s in zip(offset, dilation, stride, spatial))
            contrib = np.tensordot(wk, xg, axes=([0], [1])).swapaxes(0, 1)
            out[(slice(None), slice(g * og, (g + 1) * og)) + index] += contrib
    crop = tuple(slice(q, f - q) for q, f in zip(pad, full))
    out = out[(slice(None), slice(None)) + crop]
    if p.bias_term:
        out += layer.blobs[1].reshape([1, -1] + [1] * (x.ndim - 2))
    return out


def im2col(x, layer):
    """im2col_layer.cpp: (N, C * prod(kernel), out...) in (c, kernel offset) order."""
    p = layer.param.convolution_param
    kernel, pad, stride, dilation = _geometry(p, x.ndim - 2)
    out_size, views = _windows(x, kernel, pad, stride, dilation)
    cols = np.stack([views[o] for o in sorted(views)], axis=2)
    return cols.reshape((x.shape[0], -1) + tuple(out_size))


def spp(x, layer):
    """spp_layer.cpp: level l pools in 2^l bins (kernel ceil(size/bins), stride = kernel,
    pad (kernel*bins - size + 1) / 2), flattened and concatenated; one level as pooled."""
    p = layer.param.spp_param
    levels = []
    for level in range(p.pyramid_height):
        bins = 2 ** level
        lp = type(layer.param)()
        q = lp.pooling_param
        q.pool = p.pool
        q.kernel_h, q.kernel_w = [-(-s // bins) for s in x.shape[2:]]
        q.stride_h, q.stride_w = q.kernel_h, q.kernel_w
        q.pad_h = (q.kernel_h * bins - x.shape[2] + 1) // 2
        q.pad_w = (q.kernel_w * bins - x.shape[3] + 1) // 2
        levels.append(reference64.pooling(x, layer._replace(param=lp)))
    if len(levels) == 1:
        return levels[0]
    return np.concatenate([y.reshape(y.shape[0], -1) for y in levels], axis=1)


def crop(bottoms, layer):
    """crop_layer.cpp: bottom[0] cut to bottom[1]'s shape from ``axis`` on at ``offset``."""
    x, ref = bottoms
    p = layer.param.crop_param
    axis = _axis(p.axis, x.ndim)
    n = x.ndim - axis
    offsets = list(p.offset) * n if len(p.offset) == 1 else (list(p.offset) or [0] * n)
    index = tuple(slice(None) for _ in range(axis)) + tuple(
        slice(o, o + r) for o, r in zip(offsets, ref.shape[axis:]))
    return x[index]


def slice_layer(x, layer):
    """slice_layer.cpp: pieces of ``axis`` at slice_point, or equal parts."""
    p = layer.param.slice_param
    axis = _axis(p.slice_dim if p.HasField("slice_dim") else p.axis, x.ndim)
    points = list(p.slice_point) or [x.shape[axis] // len(layer.tops) * i
                                     for i in range(1, len(layer.tops))]
    return np.split(x, points, axis=axis)


def tile(x, layer):
    """tile_layer.cpp: ``tiles`` copies of the block of axes [axis, end) along ``axis``."""
    p = layer.param.tile_param
    return np.concatenate([x] * p.tiles, axis=_axis(p.axis, x.ndim))


def embed(x, layer):
    """embed_layer.cpp: row int(x) of the table, plus the bias."""
    out = layer.blobs[0][x.astype(np.int64)]
    if layer.param.embed_param.bias_term:
        out = out + layer.blobs[1]
    return out


def _lstm_cell(c_prev, gates, cont):
    """lstm_unit_layer.cpp: f is 0 where cont is 0; c = f c_prev + i g; h = o tanh(c)."""
    i, f, o, g = np.split(gates, 4, axis=-1)
    f = np.where(cont[..., None] == 0, 0.0, cont[..., None] * _sigmoid(f))
    c = f * c_prev + _sigmoid(i) * np.tanh(g)
    return c, _sigmoid(o) * np.tanh(c)


def recurrent(bottoms, layer):
    """rnn_layer.cpp / lstm_layer.cpp unrolled, time-major: x's transform, then (with a
    third bottom beyond the exposed states) x_static's, summed last at every step; the
    initial states are the bottoms after x_static with expose_hidden, else zero; the tops
    are the output, then (expose_hidden) the final states h_T (, c_T)."""
    x, cont = bottoms[0], bottoms[1]
    n_states = 1 if layer.type == "RNN" else 2
    exposed = n_states if layer.param.recurrent_param.expose_hidden else 0
    static = len(bottoms) > 2 + exposed
    b = list(layer.blobs)
    xs = x.reshape(x.shape[0], x.shape[1], -1) @ b[0].T + b[1]
    extra = 0.0
    if static:
        extra = bottoms[2].reshape(bottoms[2].shape[0], -1) @ b[2].T
        del b[2]
    h = np.zeros(xs.shape[1:2] + (b[2].shape[1],))
    c = np.zeros_like(h)
    if exposed:
        states = bottoms[2 + static:]
        h = states[0][0]
        c = states[1][0] if exposed == 2 else c
    outs = []
    for t in range(xs.shape[0]):
        pre = (cont[t][:, None] * h) @ b[2].T + xs[t] + extra
        if layer.type == "RNN":
            h = np.tanh(pre)
            outs.append(np.tanh(h @ b[3].T + b[4]))
        else:
            c, h = _lstm_cell(c, pre, cont[t])
            outs.append(h)
    finals = [h[None], c[None]][:exposed]
    return [np.stack(outs)] + finals


def run_layer(layer, bottoms, top_shapes):
    """The top arrays of one layer of issue 14's types, or None for reference64's."""
    x, t = (bottoms[0] if bottoms else None), layer.type
    single = {"PReLU": prelu, "Reduction": reduction, "MVN": mvn, "Deconvolution":
              deconvolution, "Im2col": im2col, "SPP": spp, "Tile": tile, "Embed": embed}
    if t in single:
        return [single[t](x, layer)]
    if t == "Convolution" and x.ndim != 4:
        return [convolution_nd(x, layer)]
    if t == "ArgMax":
        return [argmax(x, layer, top_shapes[layer.tops[0]])]
    if t in ("Bias", "Crop"):
        return [(bias if t == "Bias" else crop)(bottoms, layer)]
    if t == "Slice":
        return slice_layer(x, layer)
    if t == "BatchReindex":
        return [x[bottoms[1].astype(np.int64)]]
    if t == "Filter":
        keep = bottoms[-1].reshape(-1) != 0
        return [b[keep] for b in bottoms[:-1]]
    if t == "Parameter":
        return [layer.blobs[0].copy()]
    if t in ("RNN", "LSTM"):
        return recurrent(bottoms, layer)
    if t == "LSTMUnit":
        return list(_lstm_cell(bottoms[0], bottoms[1], bottoms[2]))
    out = pointwise(x, layer)
    return None if out is None else [out]


def forward(layers, inputs, top_shapes):
    """reference64.forward with issue 14's types: {blob: float64 array}."""
    blobs = {name: np.asarray(value, np.float64) for name, value in inputs.items()}
    for layer in layers:
        # A layer fed by a skipped one (the label's Split) makes no golden blob either.
        if layer.type in SKIPPED or any(b not in blobs for b in layer.bottoms):
            continue
        bottoms = [blobs[b] for b in layer.bottoms]
        outputs = run_layer(layer, bottoms, top_shapes)
        if outputs is None:
            outputs = reference64.run_layer(layer, bottoms, top_shapes)
        blobs.update(zip(layer.tops, outputs))
    return blobs
