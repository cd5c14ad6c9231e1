"""Code generators for Caffe's recurrent types RNN, LSTM and LSTMUnit: generated helpers
(``CaffeRNN``, ``CaffeLSTM``, ``caffe_lstm_unit``) that run Caffe's unrolled net step by step,
time-major, with its ``cont`` gating. nn.RNN / nn.LSTM do not fit: they cannot reset the
state mid-sequence where cont is 0, and nn.LSTM orders its gates i, f, g, o with two biases
where Caffe has i, f, o, g and one.
"""

from __future__ import annotations

from ..layers.recurrent import recurrent_sizes
from .layer_text import _op, kwargs, register

#: Caffe's learned blobs of each type in its order, without and with a static input
#: (rnn_layer.cpp / lstm_layer.cpp name them so): the generated module's parameter names.
BLOB_NAMES = {"RNN": ("W_xh", "b_h", "W_hh", "W_ho", "b_o"),
              "LSTM": ("W_xc", "b_c", "W_hc")}
STATIC_BLOB_NAMES = {"RNN": ("W_xh", "b_h", "W_xh_static", "W_hh", "W_ho", "b_o"),
                     "LSTM": ("W_xc", "b_c", "W_xc_static", "W_hc")}
#: forward's parameters after x and cont, in Caffe's bottom order.
EXTRA_ARGS = {"RNN": ("h_0",), "LSTM": ("h_0", "c_0")}


@register("RNN", "LSTM")
def recurrent(layer, shapes, blobs):
    # recurrent_layer.cpp: x (T, N, ...) is read flattened from axis 2, cont (T, N); then
    # x_static (N, ...), then the initial states (expose_hidden).
    sizes = recurrent_sizes(layer, shapes)
    names = (STATIC_BLOB_NAMES if sizes.static else BLOB_NAMES)[layer.type]
    helpers = ("CaffeRNN",) if layer.type == "RNN" else ("caffe_lstm_unit", "CaffeLSTM")
    module = (f"{helpers[-1]}({sizes.inputs}, {sizes.hidden}"
              + kwargs(static_size=sizes.static or None,
                       expose_hidden="True" if sizes.exposed else None) + ")")
    args = ["{0}", "{1}"] + (["{2}"] if sizes.static else [])
    states = [f"{{{len(args) + k}}}" for k in range(sizes.exposed)]
    if sizes.static:
        args += states
    else:
        args += [f"{name}={arg}" for name, arg in zip(EXTRA_ARGS[layer.type], states)]
    return [_op(layer, "recurrent", module=module, call=f"{{m}}({', '.join(args)})",
                tensors=dict(zip(names, blobs)), helpers=helpers)]


@register("LSTMUnit")
def lstm_unit(layer, shapes, blobs):
    # Bottoms c_prev (1, N, H), gates (1, N, 4H), cont (1, N); tops c and h.
    return [_op(layer, "func", call="caffe_lstm_unit({0}, {1}, {2})",
                helpers=("caffe_lstm_unit",))]
