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


class CaffeRNN(CaffeModule):
    """Caffe RNN: h_t = tanh(W_hh (cont_t h_{t-1}) + W_xh x_t + b_h), o_t = tanh(W_ho h_t +
    b_o), h_0 = 0; the top stacks o_t over t."""
    caffe_blobs = ("w_xh", "b_h", "w_hh", "w_ho", "b_o")

    def __init__(self, inputs: int, hidden: int):
        super().__init__()
        self.w_xh = nn.Parameter(zeros((hidden, inputs)))
        self.b_h = nn.Parameter(torch.zeros(hidden))
        self.w_hh = nn.Parameter(zeros((hidden, hidden)))
        self.w_ho = nn.Parameter(zeros((hidden, hidden)))
        self.b_o = nn.Parameter(torch.zeros(hidden))

    def forward(self, x, cont):
        wx = F.linear(x.flatten(2), self.w_xh, self.b_h)
        h = torch.zeros_like(wx[0])
        outs = []
        for t in range(wx.shape[0]):
            h = torch.tanh(F.linear(cont[t].unsqueeze(-1) * h, self.w_hh)
                           + wx[t])
            outs.append(torch.tanh(F.linear(h, self.w_ho, self.b_o)))
        return torch.stack(outs)

    def fresh(self, n_bottoms: int) -> bool:
        return True


class CaffeLSTM(CaffeModule):
    """Caffe LSTM: gates_t = W_hc (cont_t h_{t-1}) + W_xc x_t + b_c, then the LSTMUnit step;
    h_0 = c_0 = 0; the top stacks h_t over t."""
    caffe_blobs = ("w_xc", "b_c", "w_hc")

    def __init__(self, inputs: int, hidden: int):
        super().__init__()
        self.w_xc = nn.Parameter(zeros((4 * hidden, inputs)))
        self.b_c = nn.Parameter(torch.zeros(4 * hidden))
        self.w_hc = nn.Parameter(zeros((4 * hidden, hidden)))
        self.hidden = hidden

    def forward(self, x, cont):
        wx = F.linear(x.flatten(2), self.w_xc, self.b_c)
        h = wx.new_zeros(wx.shape[1:-1] + (self.hidden,))
        c = torch.zeros_like(h)
        outs = []
        for t in range(wx.shape[0]):
            gates = F.linear(cont[t].unsqueeze(-1) * h, self.w_hc) + wx[t]
            c, h = lstm_cell(c, gates, cont[t])
            outs.append(h)
        return torch.stack(outs)

    def fresh(self, n_bottoms: int) -> bool:
        return True


class CaffeLSTMUnit(CaffeModule):
    """Caffe LSTMUnit: one ``lstm_cell`` step on (1, N, ...) blobs; tops (c, h)."""

    def forward(self, c_prev, gates, cont):
        return lstm_cell(c_prev, gates, cont)

    def fresh(self, n_bottoms: int) -> bool:
        return True


@register("RNN")
def convert_rnn(layer, shapes):
    _, _, inputs, hidden = recurrent_sizes(layer, shapes)
    return CaffeRNN(inputs, hidden)


@register("LSTM")
def convert_lstm(layer, shapes):
    _, _, inputs, hidden = recurrent_sizes(layer, shapes)
    return CaffeLSTM(inputs, hidden)


@register("LSTMUnit")
def convert_lstm_unit(layer, shapes):
    return CaffeLSTMUnit()
