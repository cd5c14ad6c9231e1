"""Code generators for Caffe's recurrent types RNN, LSTM and LSTMUnit: generated helpers
(``CaffeRNN``, ``CaffeLSTM``, ``caffe_lstm_unit``) that run Caffe's unrolled net step by step,
time-major, with its ``cont`` gating. nn.RNN / nn.LSTM do not fit: they cannot reset the
state mid-sequence where cont is 0, and nn.LSTM orders its gates i, f, g, o with two biases
where Caffe has i, f, o, g and one.
"""

from __future__ import annotations

from ..layers.recurrent import recurrent_sizes
from .layer_text import _op, register

#: Caffe's learned blobs of each type, in its order (rnn_layer.cpp / lstm_layer.cpp name
#: them so), which are the generated module's parameter names.
BLOB_NAMES = {"RNN": ("W_xh", "b_h", "W_hh", "W_ho", "b_o"),
              "LSTM": ("W_xc", "b_c", "W_hc")}


@register("RNN", "LSTM")
def recurrent(layer, shapes, blobs):
    # recurrent_layer.cpp: x (T, N, ...) is read flattened from axis 2, cont (T, N).
    _, _, inputs, hidden = recurrent_sizes(layer, shapes)
    tensors = dict(zip(BLOB_NAMES[layer.type], blobs))
    helpers = ("CaffeRNN",) if layer.type == "RNN" else ("caffe_lstm_unit", "CaffeLSTM")
    return [_op(layer, "recurrent", module=f"{helpers[-1]}({inputs}, {hidden})",
                call="{m}({0}, {1})", tensors=tensors, helpers=helpers)]


@register("LSTMUnit")
def lstm_unit(layer, shapes, blobs):
    # Bottoms c_prev (1, N, H), gates (1, N, 4H), cont (1, N); tops c and h.
    return [_op(layer, "func", call="caffe_lstm_unit({0}, {1}, {2})",
                helpers=("caffe_lstm_unit",))]
