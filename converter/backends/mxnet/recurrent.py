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


#: Parameter names of each type's blobs, in Caffe's order (x_static's after the bias).
_NAMES = {"RNN": ("w_x", "b", "w_h", "w_o", "b_o"), "LSTM": ("w_x", "b", "w_h")}


def _inputs(ctx, layer, bottoms, rows):
    """(sizes, per-step cont slices, per-step W x + b, W_static x_static or None, the blob
    variables, the initial states or None)."""
    sizes = recurrent_sizes(layer, [ctx.shape(b) for b in layer.bottoms])
    hidden, names = sizes.hidden, _NAMES[layer.type]
    if sizes.static:
        names = names[:2] + ("w_static",) + names[2:]
    blobs = dict((n, ctx.weight(layer, k, f"{layer.name}_{n}", s))
                 for k, (n, s) in enumerate(zip(names, layer.blob_shapes)))
    x = mx.sym.reshape(bottoms[0], shape=(0, 0, -1))
    wx = _linear(x, blobs["w_x"], rows * hidden, blobs["b"])
    conts = [mx.sym.slice_axis(bottoms[1], axis=0, begin=k, end=k + 1) for k in range(sizes.steps)]
    steps = [mx.sym.slice_axis(wx, axis=0, begin=k, end=k + 1) for k in range(sizes.steps)]
    static = None
    if sizes.static:  # W_static x_static: InnerProduct axis 1, no bias, as (1, N, rows H)
        static = mx.sym.expand_dims(mx.sym.FullyConnected(
            bottoms[2], weight=blobs["w_static"], num_hidden=rows * hidden, no_bias=True,
            flatten=True), axis=0)
    states = list(bottoms[2 + bool(sizes.static):]) or None
    return sizes, conts, steps, static, blobs, states


def _gated(h, cont, weight, rows, term, static):
    """W (cont_t h_{t-1}) + term [+ static], Caffe's Eltwise sum order; the first product
    left out while h is None (h_0 = 0 makes it zero)."""
    if h is not None:
        kept = mx.sym.broadcast_mul(h, mx.sym.expand_dims(cont, axis=-1))
        term = _linear(kept, weight, rows) + term
    return term if static is None else mx.sym.broadcast_add(term, static)


def _tops(layer, outs, states, exposed):
    top = mx.sym.concat(*outs, dim=0, name=layer.name)
    if not exposed:
        return [top]
    return [top] + [mx.sym.identity(s, name=f"{layer.name}_{t}")
                    for s, t in zip(states, layer.tops[1:])]


@register("RNN")
def rnn(ctx, layer, bottoms):
    """rnn_layer.cpp: h_t = tanh(W_hh (cont_t h_{t-1}) + W_xh x_t + b_h [+ W_xh_static
    x_static]) from h_0 (0 without expose_hidden), o_t = tanh(W_ho h_t + b_o)."""
    sizes, conts, steps, static, blobs, states = _inputs(ctx, layer, bottoms, 1)
    hidden = sizes.hidden
    h, outs = (states[0] if states else None), []
    for cont, term in zip(conts, steps):
        h = mx.sym.tanh(_gated(h, cont, blobs["w_h"], hidden, term, static))
        outs.append(mx.sym.tanh(_linear(h, blobs["w_o"], hidden, blobs["b_o"])))
    return _tops(layer, outs, [h], sizes.exposed)


@register("LSTM")
def lstm(ctx, layer, bottoms):
    """lstm_layer.cpp: gates_t = W_hc (cont_t h_{t-1}) + W_xc x_t + b_c [+ W_xc_static
    x_static], then the LSTMUnit step, from h_0, c_0 (0 without expose_hidden)."""
    sizes, conts, steps, static, blobs, states = _inputs(ctx, layer, bottoms, 4)
    h, c = states if states else (None, None)
    outs = []
    for cont, term in zip(conts, steps):
        c, h = lstm_cell(c, _gated(h, cont, blobs["w_h"], 4 * sizes.hidden, term, static), cont)
        outs.append(h)
    return _tops(layer, outs, [h, c], sizes.exposed)


@register("LSTMUnit")
def lstm_unit(ctx, layer, bottoms):
    """One lstm_unit_layer.cpp step; tops (c, h)."""
    c, h = lstm_cell(bottoms[0], bottoms[1], bottoms[2])
    return [mx.sym.identity(c, name=f"{layer.name}_c"), mx.sym.identity(h, name=layer.name)]
