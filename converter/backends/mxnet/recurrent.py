"""RNN, LSTM and LSTMUnit in MXNet: Caffe's unrolled nets, unrolled in the symbol (T is
fixed when the symbol is built; the streams N may vary)."""

from __future__ import annotations

import mxnet as mx

from ...layers.recurrent import recurrent_sizes
from .registry import register


def _linear(x, weight, hidden, bias=None):
    """InnerProduct over the last axis (Caffe's axis 2 on (1, N, K) / (T, N, K) blobs)."""
    return mx.sym.FullyConnected(x, weight=weight, bias=bias, num_hidden=hidden,
                                 no_bias=bias is None, flatten=False)


def lstm_cell(c_prev, gates, cont):
    """lstm_unit_layer.cpp on (..., N, 4H) gates and (..., N) cont: f is 0 where cont is 0;
    c = f * c_prev + i * g, h = o * tanh(c)."""
    i, f, o, g = mx.sym.split(gates, num_outputs=4, axis=-1)
    keep = mx.sym.expand_dims(cont, axis=-1)
    f = mx.sym.broadcast_mul(keep != 0, mx.sym.broadcast_mul(keep, mx.sym.sigmoid(f)))
    c = mx.sym.sigmoid(i) * mx.sym.tanh(g)
    if c_prev is not None:
        c = f * c_prev + c
    return c, mx.sym.sigmoid(o) * mx.sym.tanh(c)


def _inputs(ctx, layer, bottoms, rows):
    """(T, per-step cont slices, W x + b over all steps, the blob variables)."""
    t, _, inputs, hidden = recurrent_sizes(layer, [ctx.shape(b) for b in layer.bottoms])
    names = ("w_x", "b", "w_h", "w_o", "b_o")
    blobs = [ctx.weight(layer, k, f"{layer.name}_{n}", s)
             for k, (n, s) in enumerate(zip(names, layer.blob_shapes))]
    x = mx.sym.reshape(bottoms[0], shape=(0, 0, -1))
    wx = _linear(x, blobs[0], rows * hidden, blobs[1])
    conts = [mx.sym.slice_axis(bottoms[1], axis=0, begin=k, end=k + 1) for k in range(t)]
    steps = [mx.sym.slice_axis(wx, axis=0, begin=k, end=k + 1) for k in range(t)]
    return hidden, conts, steps, blobs


@register("RNN")
def rnn(ctx, layer, bottoms):
    """rnn_layer.cpp: h_t = tanh(W_hh (cont_t h_{t-1}) + W_xh x_t + b_h) with h_0 = 0 (so the
    first step has no W_hh term), o_t = tanh(W_ho h_t + b_o)."""
    hidden, conts, steps, (_, _, w_hh, w_ho, b_o) = _inputs(ctx, layer, bottoms, 1)
    h, outs = None, []
    for cont, wx in zip(conts, steps):
        if h is not None:
            kept = mx.sym.broadcast_mul(h, mx.sym.expand_dims(cont, axis=-1))
            wx = _linear(kept, w_hh, hidden) + wx
        h = mx.sym.tanh(wx)
        outs.append(mx.sym.tanh(_linear(h, w_ho, hidden, b_o)))
    return [mx.sym.concat(*outs, dim=0, name=layer.name)]


@register("LSTM")
def lstm(ctx, layer, bottoms):
    """lstm_layer.cpp: gates_t = W_hc (cont_t h_{t-1}) + W_xc x_t + b_c, then the LSTMUnit
    step; h_0 = c_0 = 0 (the first step has neither a W_hc term nor a previous cell)."""
    hidden, conts, steps, (_, _, w_hc) = _inputs(ctx, layer, bottoms, 4)
    h = c = None
    outs = []
    for cont, gates in zip(conts, steps):
        if h is not None:
            kept = mx.sym.broadcast_mul(h, mx.sym.expand_dims(cont, axis=-1))
            gates = _linear(kept, w_hc, 4 * hidden) + gates
        c, h = lstm_cell(c, gates, cont)
        outs.append(h)
    return [mx.sym.concat(*outs, dim=0, name=layer.name)]


@register("LSTMUnit")
def lstm_unit(ctx, layer, bottoms):
    """One lstm_unit_layer.cpp step; tops (c, h)."""
    c, h = lstm_cell(bottoms[0], bottoms[1], bottoms[2])
    return [mx.sym.identity(c, name=f"{layer.name}_c"), mx.sym.identity(h, name=layer.name)]
