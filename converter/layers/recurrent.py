"""Recurrent layers: RNN, LSTM and the LSTM cell LSTMUnit (recurrent_layer.cpp, rnn_layer.cpp,
lstm_layer.cpp, lstm_unit_layer.cpp).

Caffe's recurrent layers are time-major: x is (T, N, ...) and cont is (T, N), 0 where a
sequence starts (the state is reset) and 1 where it continues. A third bottom, if there is
one beyond the exposed states, is the static input x_static (N, ...), whose transform is
added at every step. With expose_hidden the initial states are bottoms after those (RNN: h_0;
LSTM: h_0, c_0; each (1, N, H)) and the final ones tops after the output; without it the
initial state is zero. Caffe unrolls them into a net whose learned blobs are
RNN: W_xh (H, I), b_h (H), [W_xh_static (H, S)], W_hh (H, H), W_ho (H, H), b_o (H);
LSTM: W_xc (4H, I), b_c (4H), [W_xc_static (4H, S)], W_hc (4H, H), I being the product of
x's axes after the second and S of x_static's after the first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Optional

from ..errors import CaffeFormatError, ShapeError
from .common import Filler, count
from .fields import read_fields
from .registry import LayerType, register

#: The recurrent states of each type (RecurrentInputBlobNames), in bottom/top order.
STATES = {"RNN": ("h",), "LSTM": ("h", "c")}


@dataclass(frozen=True)
class RecurrentParam:
    """RecurrentParameter."""
    num_output: int = 0
    weight_filler: Optional[Filler] = None
    bias_filler: Optional[Filler] = None
    debug_info: bool = False
    expose_hidden: bool = False


class RecurrentSizes(NamedTuple):
    """The sizes of one RNN/LSTM layer: T, N, I, H, S (0: no static input) and the number
    of exposed states (0 without expose_hidden)."""
    steps: int
    streams: int
    inputs: int
    hidden: int
    static: int
    exposed: int


def blob_counts(layer_type: str, expose_hidden: bool):
    """(fewest bottoms, exact tops) of an RNN/LSTM (recurrent_layer.hpp's Min/Max bottoms:
    x, cont and the exposed states; one more is the static input)."""
    exposed = len(STATES[layer_type]) if expose_hidden else 0
    return 2 + exposed, 1 + exposed


def recurrent_sizes(layer, bottoms) -> RecurrentSizes:
    """The sizes of an RNN/LSTM layer, checking x (T, N, ...), cont (T, N), x_static (N, ...)
    and the initial states (1, N, H) as recurrent_layer.cpp's LayerSetUp / Reshape do."""
    low, tops = blob_counts(layer.type, layer.params.expose_hidden)
    x, cont, hidden = bottoms[0], bottoms[1], layer.params.num_output
    static = len(bottoms) > low
    states = [tuple(b) for b in bottoms[2 + static:]]
    ok = (len(x) >= 2 and tuple(cont) == tuple(x[:2]) and hidden > 0
          and low <= len(bottoms) <= low + 1 and len(layer.tops) == tops
          and (not static or (len(bottoms[2]) >= 1 and bottoms[2][0] == x[1]))
          and all(s == (1, x[1], hidden) for s in states))
    if not ok:
        raise ShapeError(f"needs x (T, N, ...), cont (T, N), [x_static (N, ...)]"
                         f"{', the initial states (1, N, H)' if tops > 1 else ''} and "
                         f"num_output > 0, with {tops} top(s); got bottoms "
                         f"{[list(b) for b in bottoms]}", layer=layer.name,
                         layer_type=layer.type)
    return RecurrentSizes(x[0], x[1], count(x, 2), hidden,
                          count(bottoms[2], 1) if static else 0, len(states))


class _Recurrent(LayerType):
    params, field = RecurrentParam, "recurrent_param"
    # The widest counts (LSTM with expose_hidden and x_static); read() checks the exact ones.
    bottoms, tops = (2, 5), (1, 3)

    def read(lp):
        p = read_fields(RecurrentParam, lp.recurrent_param)
        low, tops = blob_counts(lp.type, p.expose_hidden)
        if not low <= len(lp.bottom) <= low + 1 or len(lp.top) != tops:
            names = ", ".join(["x", "cont", "[x_static]"]
                              + [f"{s}_0" for s in STATES[lp.type]][:low - 2])
            raise CaffeFormatError(
                f"has {len(lp.bottom)} bottom(s) and {len(lp.top)} top(s); with expose_hidden "
                f"{'on' if p.expose_hidden else 'off'} {lp.type} takes {low} or {low + 1} "
                f"bottom(s) ({names}) and exactly {tops} top(s)")
        return p


def _state_tops(sizes: RecurrentSizes):
    return [(1, sizes.streams, sizes.hidden)] * sizes.exposed


@register("RNN")
class RNN(_Recurrent):
    def shape(layer, bottoms):
        t, n, i, h, s, _ = sizes = recurrent_sizes(layer, bottoms)
        static = [(h, s)] if s else []
        return ([(t, n, h)] + _state_tops(sizes),
                [(h, i), (h,)] + static + [(h, h), (h, h), (h,)])


@register("LSTM")
class LSTM(_Recurrent):
    def shape(layer, bottoms):
        t, n, i, h, s, _ = sizes = recurrent_sizes(layer, bottoms)
        static = [(4 * h, s)] if s else []
        return [(t, n, h)] + _state_tops(sizes), [(4 * h, i), (4 * h,)] + static + [(4 * h, h)]


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
