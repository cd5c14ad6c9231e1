"""Recurrent layers: RNN, LSTM and the LSTM cell LSTMUnit (rnn_layer.cpp, lstm_layer.cpp,
lstm_unit_layer.cpp).

Caffe's recurrent layers are time-major: x is (T, N, ...) and cont is (T, N), 0 where a
sequence starts (the state is reset) and 1 where it continues. With expose_hidden off (the
default) the initial state is zero. Caffe unrolls them into a net whose learned blobs are
RNN: W_xh (H, I), b_h (H), W_hh (H, H), W_ho (H, H), b_o (H); LSTM: W_xc (4H, I), b_c (4H),
W_hc (4H, H), I being the product of x's axes after the second.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from ..errors import ShapeError, UnsupportedLayerError
from .common import Filler, count
from .fields import read_fields
from .registry import LayerType, register


@dataclass(frozen=True)
class RecurrentParam:
    """RecurrentParameter."""
    num_output: int = 0
    weight_filler: Optional[Filler] = None
    bias_filler: Optional[Filler] = None
    debug_info: bool = False
    expose_hidden: bool = False


def recurrent_sizes(layer, bottoms):
    """(T, N, I, H) of an RNN/LSTM layer, checking x (T, N, ...) against cont (T, N)."""
    x, cont = bottoms
    hidden = layer.params.num_output
    if len(x) < 2 or tuple(cont) != tuple(x[:2]) or hidden <= 0:
        raise ShapeError(f"needs x (T, N, ...) and cont (T, N) and num_output > 0; got "
                         f"x {list(x)}, cont {list(cont)}", layer=layer.name,
                         layer_type=layer.type)
    return x[0], x[1], count(x, 2), hidden


class _Recurrent(LayerType):
    params, field = RecurrentParam, "recurrent_param"
    bottoms, tops = (2, 2), (1, 1)

    def read(lp):
        p = read_fields(RecurrentParam, lp.recurrent_param)
        if p.expose_hidden:
            raise UnsupportedLayerError("expose_hidden: the initial and final hidden states "
                                        "as blobs are not supported (only expose_hidden off)")
        return p

    @classmethod
    def accepts_counts(cls, lp) -> bool:
        # Caffe also takes a static input (3rd bottom) and, with expose_hidden, the states.
        return 2 <= len(lp.bottom) <= 5 and 1 <= len(lp.top) <= 3


@register("RNN")
class RNN(_Recurrent):
    def shape(layer, bottoms):
        t, n, i, h = recurrent_sizes(layer, bottoms)
        return [(t, n, h)], [(h, i), (h,), (h, h), (h, h), (h,)]


@register("LSTM")
class LSTM(_Recurrent):
    def shape(layer, bottoms):
        t, n, i, h = recurrent_sizes(layer, bottoms)
        return [(t, n, h)], [(4 * h, i), (4 * h,), (4 * h, h)]


@register("LSTMUnit")
class LSTMUnit(LayerType):
    """One LSTM step: bottoms c_prev (1, N, H), gates (1, N, 4H) (i, f, o, g pre-activations)
    and cont (1, N); tops c and h (1, N, H)."""
    bottoms, tops = (3, 3), (2, 2)

    def shape(layer, bottoms):
        c, gates, cont = (tuple(b) for b in bottoms)
        if (len(c) != 3 or gates[:2] != c[:2] or len(gates) != 3 or gates[2] != 4 * c[2]
                or cont != c[:2]):
            raise ShapeError(f"needs c_prev (1, N, H), gates (1, N, 4H), cont (1, N); got "
                             f"{[list(b) for b in bottoms]}", layer=layer.name,
                             layer_type=layer.type)
        return [c, c], []
