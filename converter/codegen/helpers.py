"""Helper definitions written into a generated model file where PyTorch differs from Caffe.

Each entry is Python source (a function or a small ``nn.Module``) that the generated file
defines itself, so it never imports this package; a comment in each cites the Caffe rule.
"""

from __future__ import annotations

from typing import Dict, Iterable, List

CAFFE_POOL2D = '''
#: Caffe initialises MAX pooling outputs to -FLT_MAX.
FLT_MAX = 3.4028234663852886e38


def caffe_pool2d(x, method, kernel, stride, pad, ceil=True):
    """Caffe's pooling where nn.MaxPool2d / nn.AvgPool2d compute something else.

    pooling_layer.cpp rounds the output size up (down with round_mode FLOOR) and drops a
    last window that starts at or past H + pad only when some pad is nonzero; AVE divides
    by the window clipped to H + pad (padding counts, cells beyond it do not); any
    pad < kernel is allowed. So: pad until every window fits (-FLT_MAX for MAX, 0 for AVE),
    pool without padding, crop to Caffe's size, and rescale AVE to Caffe's divisor.
    """
    out, extra, divisors = [], [], []
    for n, k, s, p in zip(x.shape[-2:], kernel, stride, pad):
        n = int(n)
        o = (-(-(n + 2 * p - k) // s) if ceil else (n + 2 * p - k) // s) + 1
        if any(pad) and (o - 1) * s >= n + p:
            o -= 1
        out.append(o)
        extra.append(max(0, (o - 1) * s + k - p - n))
        divisors.append([min(i * s - p + k, n + p) - (i * s - p) for i in range(o)])
    fill = -FLT_MAX if method == "MAX" else 0.0
    x = F.pad(x, (pad[1], extra[1], pad[0], extra[0]), value=fill)
    if method == "MAX":
        return F.max_pool2d(x, kernel, stride)[:, :, :out[0], :out[1]]
    y = F.avg_pool2d(x, kernel, stride)[:, :, :out[0], :out[1]]
    dh = torch.tensor(divisors[0], dtype=torch.float64)
    dw = torch.tensor(divisors[1], dtype=torch.float64)
    return y * ((kernel[0] * kernel[1]) / torch.outer(dh, dw)).to(y.dtype)
'''

CAFFE_SPP = '''
def caffe_spp(x, method, height):
    """Caffe's SPP (spp_layer.cpp): level l pools into 2^l bins per axis with Caffe's
    pooling (kernel ceil(size / bins), stride = kernel, pad (kernel * bins - size + 1) / 2),
    the levels flattened and concatenated on axis 1; a single level is returned as pooled.
    """
    levels = []
    for level in range(height):
        bins = 2 ** level
        kernel = [-(-int(n) // bins) for n in x.shape[-2:]]
        pad = [(k * bins - int(n) + 1) // 2 for k, n in zip(kernel, x.shape[-2:])]
        levels.append(caffe_pool2d(x, method, kernel, kernel, pad))
    if height == 1:
        return levels[0]
    return torch.cat([y.flatten(1) for y in levels], 1)
'''

LRN_WITHIN_CHANNEL = '''
def lrn_within_channel(x, size, alpha, beta):
    """Caffe's LRN with norm_region WITHIN_CHANNEL (lrn_layer.cpp): x * (1 + alpha * a)^-beta,
    a the mean of x^2 over a size x size window with zero padding (size-1)/2, the padding
    counted in the divisor (Caffe composes Power, AVE Pooling and Power; k is not used).
    """
    a = F.avg_pool2d(x * x, size, 1, (size - 1) // 2, count_include_pad=True)
    return x * torch.pow(1.0 + alpha * a, -beta)
'''

SCALE = '''
class Scale(nn.Module):
    """Caffe's Scale layer where it is not a BatchNorm's affine part (scale_layer.cpp):
    x * weight (+ bias), weight spanning `shape` from the layer's axis and broadcast over the
    `trailing` axes after it. With learned_scale=False the scale is forward's second input
    (Caffe's two-bottom form) and only the bias is learned.
    """

    def __init__(self, shape, trailing=0, bias=False, learned_scale=True):
        super().__init__()
        self.trailing = trailing
        self.weight = nn.Parameter(torch.ones(shape)) if learned_scale else None
        self.bias = nn.Parameter(torch.zeros(shape)) if bias else None

    def forward(self, x, scale=None):
        scale = self.weight if scale is None else scale
        view = tuple(scale.shape) + (1,) * self.trailing
        y = x * scale.reshape(view)
        if self.bias is not None:
            y = y + self.bias.reshape(view)
        return y
'''

CAFFE_ARGMAX = '''
def caffe_argmax(x, top_k, out_max_val=False, axis=None, tail=()):
    """Caffe's ArgMax (argmax_layer.cpp): the indices (as floats) of the top_k largest values,
    largest first, along `axis`; with axis None over each sample's flattened values, the
    values after the indices when out_max_val (the output then shaped (N,) + tail). With an
    axis and out_max_val, only the values. Caffe sorts (value, index) pairs descending, so
    among equal values the larger index comes first: a stable sort of the reversed axis
    (ONNX has no stable sort; its TopK puts the lower index first among equals, the same).
    """
    dim = 1 if axis is None else axis
    flat = (x.flatten(1) if axis is None else x).flip(dim)
    n = flat.shape[dim]
    if torch.onnx.is_in_onnx_export():
        values, index = torch.topk(flat, top_k, dim=dim)
    else:
        values, index = torch.sort(flat, dim=dim, descending=True, stable=True)
        values, index = values.narrow(dim, 0, top_k), index.narrow(dim, 0, top_k)
    index = (n - 1) - index
    if axis is not None:
        return values if out_max_val else index.to(x.dtype)
    parts = [index.to(x.dtype)] + ([values] if out_max_val else [])
    return torch.stack(parts, dim=1).reshape((x.shape[0],) + tuple(tail))
'''

CAFFE_MVN = '''
def caffe_mvn(x, start, normalize_variance=True, eps=1e-9):
    """Caffe's MVN (mvn_layer.cpp): x minus its mean over the axes from `start` (2: each
    (n, c) plane; 1: across channels), then divided by sqrt(mean((x - mean)^2)) + eps --
    eps is added to the standard deviation, not the variance.
    """
    dims = tuple(range(start, x.dim()))
    y = x - x.mean(dim=dims, keepdim=True)
    if not normalize_variance:
        return y
    return y / (torch.sqrt((y * y).mean(dim=dims, keepdim=True)) + eps)
'''

EMBED = '''
class Embed(nn.Module):
    """Caffe's Embed layer (embed_layer.cpp): row int(x) of the (num_embeddings,
    embedding_dim) table for each input element (its float index truncated, as Caffe's
    static_cast<int>), plus the bias.
    """

    def __init__(self, num_embeddings, embedding_dim, bias=True):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(num_embeddings, embedding_dim))
        self.bias = nn.Parameter(torch.zeros(embedding_dim)) if bias else None

    def forward(self, x):
        y = self.weight[x.long()]
        return y + self.bias if self.bias is not None else y
'''

PARAMETER = '''
class Parameter(nn.Module):
    """Caffe's Parameter layer (parameter_layer.cpp): its one learned blob, as an output."""

    def __init__(self, shape):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(shape))

    def forward(self):
        return self.weight
'''

BIAS = '''
class Bias(nn.Module):
    """Caffe's Bias layer (bias_layer.cpp): x + bias, the bias spanning `shape` from the
    layer's axis and broadcast over the `trailing` axes after it. With learned=False the
    bias is forward's second input (Caffe's two-bottom form).
    """

    def __init__(self, shape, trailing=0, learned=True):
        super().__init__()
        self.trailing = trailing
        self.bias = nn.Parameter(torch.zeros(shape)) if learned else None

    def forward(self, x, bias=None):
        bias = self.bias if bias is None else bias
        return x + bias.reshape(tuple(bias.shape) + (1,) * self.trailing)
'''

ZERO_PAD_SHORTCUT = '''
class ZeroPadShortcut(nn.Module):
    """The paper's option-A shortcut as the Caffe net computes it: the input subsampled by
    `stride` (in Caffe a frozen all-ones depthwise 1x1 convolution, which copies exactly)
    with zero channels appended up to `out_channels` (Caffe: Power with scale 0, Concat).
    """

    def __init__(self, in_channels, out_channels, stride=1):
        super().__init__()
        self.stride = stride
        self.copies = out_channels // in_channels - 1

    def forward(self, x):
        if self.stride != 1:
            x = x[:, :, ::self.stride, ::self.stride]
        return torch.cat([x] + [torch.zeros_like(x)] * self.copies, 1)
'''

CAFFE_LSTM_UNIT = '''
def caffe_lstm_unit(c_prev, gates, cont):
    """Caffe's LSTMUnit (lstm_unit_layer.cpp), one LSTM step: the four H-wide slices of
    `gates` are the i, f, o, g pre-activations, in that order; c = cont * sigmoid(f) * c_prev
    + sigmoid(i) * tanh(g) and h = sigmoid(o) * tanh(c). A cont of 0 (a sequence start)
    drops the previous cell; cont (..., N) broadcasts over H. Returns (c, h).
    """
    i, f, o, g = gates.chunk(4, dim=-1)
    f = cont.unsqueeze(-1) * torch.sigmoid(f)
    c = f * c_prev + torch.sigmoid(i) * torch.tanh(g)
    return c, torch.sigmoid(o) * torch.tanh(c)
'''

CAFFE_RNN = '''
class CaffeRNN(nn.Module):
    """Caffe's RNN layer (rnn_layer.cpp) on a time-major x (T, N, ...) and cont (T, N), cont
    0 where a sequence starts: h_t = tanh(W_hh (cont_t * h_{t-1}) + W_xh x_t + b_h), o_t =
    tanh(W_ho h_t + b_o); returns o_t for every t, (T, N, H). With a static input x_static
    (N, ...), W_xh_static x_static is added at every step; h_0 (1, N, H) is zero unless
    given (expose_hidden), and then forward also returns h_T. x's axes after the second are
    flattened; the parameters keep Caffe's blob names and (out, in) layouts.
    """

    def __init__(self, input_size, hidden_size, static_size=0, expose_hidden=False):
        super().__init__()
        self.expose_hidden = expose_hidden
        self.W_xh = nn.Parameter(torch.zeros(hidden_size, input_size))
        self.b_h = nn.Parameter(torch.zeros(hidden_size))
        if static_size:
            self.W_xh_static = nn.Parameter(torch.zeros(hidden_size, static_size))
        self.W_hh = nn.Parameter(torch.zeros(hidden_size, hidden_size))
        self.W_ho = nn.Parameter(torch.zeros(hidden_size, hidden_size))
        self.b_o = nn.Parameter(torch.zeros(hidden_size))

    def forward(self, x, cont, x_static=None, h_0=None):
        x_in = F.linear(x.flatten(2), self.W_xh, self.b_h)  # every step at once, as Caffe
        if x_static is not None:
            static = F.linear(x_static.flatten(1), self.W_xh_static)
        h = x_in.new_zeros(x_in.shape[1:]) if h_0 is None else h_0[0]
        outputs = []
        for t in range(x_in.shape[0]):
            h_in = F.linear(cont[t].unsqueeze(-1) * h, self.W_hh) + x_in[t]
            if x_static is not None:  # Caffe sums the static term last
                h_in = h_in + static
            h = torch.tanh(h_in)
            outputs.append(torch.tanh(F.linear(h, self.W_ho, self.b_o)))
        if self.expose_hidden:
            return torch.stack(outputs), h.unsqueeze(0)
        return torch.stack(outputs)
'''

CAFFE_LSTM = '''
class CaffeLSTM(nn.Module):
    """Caffe's LSTM layer (lstm_layer.cpp) on a time-major x (T, N, ...) and cont (T, N), cont
    0 where a sequence starts: gates_t = W_hc (cont_t * h_{t-1}) + W_xc x_t + b_c, then
    caffe_lstm_unit; returns h_t for every t, (T, N, H). With a static input x_static (N, ...),
    W_xc_static x_static is added to every step's gates; h_0 and c_0 (1, N, H) are zero unless
    given (expose_hidden), and then forward also returns h_T and c_T. Unlike nn.LSTM, the
    gates are in Caffe's i, f, o, g order with one bias; the parameters keep Caffe's blob
    names and (out, in) layouts.
    """

    def __init__(self, input_size, hidden_size, static_size=0, expose_hidden=False):
        super().__init__()
        self.expose_hidden = expose_hidden
        self.W_xc = nn.Parameter(torch.zeros(4 * hidden_size, input_size))
        self.b_c = nn.Parameter(torch.zeros(4 * hidden_size))
        if static_size:
            self.W_xc_static = nn.Parameter(torch.zeros(4 * hidden_size, static_size))
        self.W_hc = nn.Parameter(torch.zeros(4 * hidden_size, hidden_size))

    def forward(self, x, cont, x_static=None, h_0=None, c_0=None):
        x_gates = F.linear(x.flatten(2), self.W_xc, self.b_c)  # every step at once, as Caffe
        if x_static is not None:
            static = F.linear(x_static.flatten(1), self.W_xc_static)
        h = x_gates.new_zeros(x_gates.shape[1], self.W_hc.shape[1]) if h_0 is None else h_0[0]
        c = torch.zeros_like(h) if c_0 is None else c_0[0]
        outputs = []
        for t in range(x_gates.shape[0]):
            gates = F.linear(cont[t].unsqueeze(-1) * h, self.W_hc) + x_gates[t]
            if x_static is not None:  # Caffe sums the static term last
                gates = gates + static
            c, h = caffe_lstm_unit(c, gates, cont[t])
            outputs.append(h)
        if self.expose_hidden:
            return torch.stack(outputs), h.unsqueeze(0), c.unsqueeze(0)
        return torch.stack(outputs)
'''

HELPERS: Dict[str, str] = {
    "caffe_pool2d": CAFFE_POOL2D,
    "caffe_spp": CAFFE_SPP,
    "lrn_within_channel": LRN_WITHIN_CHANNEL,
    "Scale": SCALE,
    "Bias": BIAS,
    "Embed": EMBED,
    "Parameter": PARAMETER,
    "caffe_argmax": CAFFE_ARGMAX,
    "caffe_mvn": CAFFE_MVN,
    "ZeroPadShortcut": ZERO_PAD_SHORTCUT,
    "caffe_lstm_unit": CAFFE_LSTM_UNIT,
    "CaffeRNN": CAFFE_RNN,
    "CaffeLSTM": CAFFE_LSTM,
}

#: Helpers that call torch.nn.functional.
USES_F = {"caffe_pool2d", "lrn_within_channel", "CaffeRNN", "CaffeLSTM"}


def helper_source(names: Iterable[str]) -> List[str]:
    """The source blocks of ``names``, in a fixed order, each once."""
    wanted = set(names)
    return [HELPERS[n].strip("\n") for n in HELPERS if n in wanted]
