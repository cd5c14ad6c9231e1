"""RNN, LSTM and LSTMUnit in PyTorch: Caffe's unrolled nets, step by step (time-major)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ...layers.recurrent import recurrent_sizes
from .module import CaffeModule, zeros
from .registry import register


def lstm_cell(c_prev, gates, cont):
    """lstm_unit_layer.cpp: i, f, o = sigmoid, g = tanh of the four H-wide slices of
    ``gates``; f is 0 where cont is 0 (the previous cell is dropped, not scaled); c = f *
    c_prev + i * g, h = o * tanh(c). ``cont`` is (N,) and broadcasts over H."""
    i, f, o, g = gates.chunk(4, dim=-1)
    keep = cont.unsqueeze(-1)
    f = torch.where(keep == 0, torch.zeros_like(f), keep * torch.sigmoid(f))
    c = f * c_prev + torch.sigmoid(i) * torch.tanh(g)
    return c, torch.sigmoid(o) * torch.tanh(c)


class _Recurrent(CaffeModule):
    """What RNN and LSTM share (recurrent_layer.cpp): x's transform W x + b over every step
    at once, the static input's W_static x_static (no bias) added at every step after the
    other terms, the initial states from the bottoms after x_static with expose_hidden (else
    zero), and the final states as extra tops."""

    def __init__(self, names, rows: int, inputs: int, hidden: int, static: int, exposed: int):
        super().__init__()
        self.hidden, self.exposed = hidden, exposed
        self.static_name = f"{names[0]}_static" if static else None
        self.caffe_blobs = names[:2] + ((self.static_name,) if static else ()) + names[2:]
        setattr(self, names[0], nn.Parameter(zeros((rows, inputs))))
        setattr(self, names[1], nn.Parameter(torch.zeros(rows)))
        if static:
            setattr(self, self.static_name, nn.Parameter(zeros((rows, static))))

    def _start(self, x, weight, bias, extra, n_states: int):
        """(W x + b for every step, the static term or None, the initial states)."""
        wx = F.linear(x.flatten(2), weight, bias)
        static = None
        if self.static_name is not None:
            static = F.linear(extra[0].flatten(1), getattr(self, self.static_name))
            extra = extra[1:]
        if extra:
            return wx, static, [s[0] for s in extra]
        return wx, static, [wx.new_zeros(wx.shape[1:-1] + (self.hidden,))] * n_states

    def _finish(self, outs, states):
        top = torch.stack(outs)
        if not self.exposed:
            return top
        return (top,) + tuple(s.unsqueeze(0) for s in states)

    def fresh(self, n_bottoms: int) -> bool:
        return True


class CaffeRNN(_Recurrent):
    """Caffe RNN: h_t = tanh(W_hh (cont_t h_{t-1}) + W_xh x_t + b_h [+ W_xh_static x_static]),
    o_t = tanh(W_ho h_t + b_o); the top stacks o_t over t (then h_T with expose_hidden)."""

    def __init__(self, inputs: int, hidden: int, static: int = 0, exposed: int = 0):
        super().__init__(("w_xh", "b_h", "w_hh", "w_ho", "b_o"), hidden, inputs, hidden,
                         static, exposed)
        self.w_hh = nn.Parameter(zeros((hidden, hidden)))
        self.w_ho = nn.Parameter(zeros((hidden, hidden)))
        self.b_o = nn.Parameter(torch.zeros(hidden))

    def forward(self, x, cont, *extra):
        wx, static, (h,) = self._start(x, self.w_xh, self.b_h, extra, 1)
        outs = []
        for t in range(wx.shape[0]):
            pre = F.linear(cont[t].unsqueeze(-1) * h, self.w_hh) + wx[t]
            h = torch.tanh(pre if static is None else pre + static)
            outs.append(torch.tanh(F.linear(h, self.w_ho, self.b_o)))
        return self._finish(outs, [h])


class CaffeLSTM(_Recurrent):
    """Caffe LSTM: gates_t = W_hc (cont_t h_{t-1}) + W_xc x_t + b_c [+ W_xc_static x_static],
    then the LSTMUnit step; the top stacks h_t over t (then h_T, c_T with expose_hidden)."""

    def __init__(self, inputs: int, hidden: int, static: int = 0, exposed: int = 0):
        super().__init__(("w_xc", "b_c", "w_hc"), 4 * hidden, inputs, hidden, static, exposed)
        self.w_hc = nn.Parameter(zeros((4 * hidden, hidden)))

    def forward(self, x, cont, *extra):
        wx, static, (h, c) = self._start(x, self.w_xc, self.b_c, extra, 2)
        outs = []
        for t in range(wx.shape[0]):
            gates = F.linear(cont[t].unsqueeze(-1) * h, self.w_hc) + wx[t]
            c, h = lstm_cell(c, gates if static is None else gates + static, cont[t])
            outs.append(h)
        return self._finish(outs, [h, c])


class CaffeLSTMUnit(CaffeModule):
    """Caffe LSTMUnit: one ``lstm_cell`` step on (1, N, ...) blobs; tops (c, h)."""

    def forward(self, c_prev, gates, cont):
        return lstm_cell(c_prev, gates, cont)

    def fresh(self, n_bottoms: int) -> bool:
        return True


@register("RNN")
def convert_rnn(layer, shapes):
    _, _, inputs, hidden, static, exposed = recurrent_sizes(layer, shapes)
    return CaffeRNN(inputs, hidden, static, exposed)


@register("LSTM")
def convert_lstm(layer, shapes):
    _, _, inputs, hidden, static, exposed = recurrent_sizes(layer, shapes)
    return CaffeLSTM(inputs, hidden, static, exposed)


@register("LSTMUnit")
def convert_lstm_unit(layer, shapes):
    return CaffeLSTMUnit()
