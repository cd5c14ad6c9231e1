"""``-o model.py`` for Caffe's recurrent types (RNN, LSTM, LSTMUnit): the generated
``CaffeRNN`` / ``CaffeLSTM`` / ``caffe_lstm_unit`` against the torch back end's modules, over
cont patterns with resets at the start and mid-sequence, 3-D and 4-D inputs; resets that
really restart a sequence; training; and the options the IR refuses (expose_hidden, a static
input), refused with one line and no files. Real Caffe's outputs are golden/
layers_recurrent.h5's (tests/test_codegen.py).
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from converter import to_torch  # noqa: E402
from converter.caffe.reader import parse_prototxt_text  # noqa: E402
from converter.cli.convert import main  # noqa: E402
from converter.codegen import generate  # noqa: E402
from converter.preprocess import Preprocess  # noqa: E402

T, N = 6, 3
#: cont (T, N) patterns, 0 where a sequence starts: every stream starts at t = 0 only; the
#: golden's restart; resets mid-sequence at different steps per stream (two in stream 0);
#: every step a start; no start at all (Caffe then carries h_0 = 0 in, the same thing).
CONT = {
    "one_sequence": [[0] * N] + [[1] * N] * (T - 1),
    "mid_reset": [[0, 0, 0], [1, 1, 1], [0, 1, 1], [1, 1, 0], [0, 1, 1], [1, 0, 1]],
    "every_step": [[0] * N] * T,
    "never_start": [[1] * N] * T,
}


def recurrent_net(kind: str, x_shape, hidden: int = 4) -> str:
    """A prototxt with one RNN or LSTM layer on x (T, N, ...) and cont (T, N)."""
    dims = " ".join(f"dim: {d}" for d in x_shape)
    return f'''name: "seq"
layer {{ name: "input" type: "Input" top: "x" top: "cont"
  input_param {{ shape {{ {dims} }} shape {{ dim: {x_shape[0]} dim: {x_shape[1]} }} }} }}
layer {{ name: "rec" type: "{kind}" bottom: "x" bottom: "cont" top: "rec"
  recurrent_param {{ num_output: {hidden} }} }}
'''


UNIT_NET = '''name: "unit"
layer { name: "input" type: "Input" top: "c_prev" top: "gates" top: "cont"
  input_param { shape { dim: 1 dim: 3 dim: 4 } shape { dim: 1 dim: 3 dim: 16 }
                shape { dim: 1 dim: 3 } } }
layer { name: "unit" type: "LSTMUnit" bottom: "c_prev" bottom: "gates" bottom: "cont"
  top: "c" top: "h" }
'''


def _weights(net, seed=0):
    """Random blobs of Caffe's shapes (scale 0.7 keeps tanh/sigmoid off saturation)."""
    from converter.ir.shapes import infer_shapes
    infer_shapes(net)
    rng = np.random.default_rng(seed)
    return {layer.name: [(rng.standard_normal(s) * 0.7).astype(np.float32)
                         for s in layer.blob_shapes] for layer in net.layers if layer.blob_shapes}


def _generated(net, weights):
    """The generated file's Net, filled with ``weights``, in eval mode; and its source."""
    gen = generate(net, weights, Preprocess(), stem="m")
    namespace = {}
    exec(compile(gen.source, "m.py", "exec"), namespace)
    module = namespace["Net"]()
    module.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in
                            gen.tensors.items()})
    return module.eval(), gen


def _inputs(x_shape, cont, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*x_shape, generator=g), torch.tensor(cont, dtype=torch.float32)


@pytest.mark.parametrize("cont", sorted(CONT))
@pytest.mark.parametrize("kind, x_shape", [("RNN", (T, N, 5)), ("LSTM", (T, N, 5)),
                                           ("RNN", (T, N, 2, 3)), ("LSTM", (T, N, 2, 3))])
def test_generated_recurrent_equals_the_back_end(kind, x_shape, cont):
    net = parse_prototxt_text(recurrent_net(kind, x_shape))
    weights = _weights(net)
    module, gen = _generated(net, weights)
    reference = to_torch(net, weights)
    x, c = _inputs(x_shape, CONT[cont])
    with torch.no_grad():
        got, expected = module(x, c), reference(x, c)
    # The same float32 operations in the same order as the back end: bit for bit.
    assert torch.equal(got, expected), (got - expected).abs().max()
    assert got.shape == (T, N, 4)
    helper = "CaffeRNN" if kind == "RNN" else "CaffeLSTM"
    assert f"self.rec = {helper}({int(np.prod(x_shape[2:]))}, 4)" in gen.source


@pytest.mark.parametrize("cont", [[[1, 0, 1]], [[0, 0, 0]], [[1, 1, 1]], [[0.5, 1, 0]]])
def test_generated_lstm_unit_equals_the_back_end(cont):
    net = parse_prototxt_text(UNIT_NET)
    module, gen = _generated(net, {})
    reference = to_torch(net, {})
    g = torch.Generator().manual_seed(2)
    args = (torch.randn(1, 3, 4, generator=g), torch.randn(1, 3, 16, generator=g),
            torch.tensor(cont, dtype=torch.float32))
    with torch.no_grad():
        got, expected = module(*args), reference(*args)
    for a, b in zip(got, expected):
        assert torch.equal(a, b), (a - b).abs().max()
    assert "c, h = caffe_lstm_unit(c_prev, gates, cont)" in gen.source
    assert gen.tensors == {}


@pytest.mark.parametrize("kind", ["RNN", "LSTM"])
def test_a_reset_starts_the_sequence_afresh(kind):
    """Where cont is 0 at step s, the outputs from s on are those of the sequence x[s:] run
    alone: nothing of the earlier steps leaks through h (or c)."""
    net = parse_prototxt_text(recurrent_net(kind, (T, N, 5)))
    module, _ = _generated(net, _weights(net, seed=3))
    x, cont = _inputs((T, N, 5), CONT["mid_reset"], seed=4)
    with torch.no_grad():
        whole = module(x, cont)
        tail = module(x[2:], cont[2:])      # stream 0 restarts at t = 2
        carried = module(x[2:], torch.ones_like(cont[2:]))
    # Equal up to BLAS blocking for another row count: measured 0 here; 1e-6 is ~8 ulps
    # of these tanh-bounded values.
    torch.testing.assert_close(whole[2:, 0], tail[:, 0], rtol=0, atol=1e-6)
    assert not torch.allclose(whole[2:, 1], tail[:, 1])  # stream 1 carries its state on
    assert not torch.allclose(whole[2:3, 1], carried[:1, 1])


@pytest.mark.parametrize("kind, names", [("RNN", ["W_xh", "b_h", "W_hh", "W_ho", "b_o"]),
                                         ("LSTM", ["W_xc", "b_c", "W_hc"])])
def test_parameters_are_caffes_blobs_and_train(kind, names):
    """The state_dict holds Caffe's blobs under Caffe's names, in Caffe's layout; every one
    gets a gradient and a few SGD steps lower the loss."""
    net = parse_prototxt_text(recurrent_net(kind, (T, N, 5)))
    weights = _weights(net, seed=5)
    module, gen = _generated(net, weights)
    assert list(gen.tensors) == [f"rec.{n}" for n in names]
    for blob, name in zip(weights["rec"], names):
        np.testing.assert_array_equal(gen.tensors[f"rec.{name}"], blob)
    x, cont = _inputs((T, N, 5), CONT["mid_reset"], seed=6)
    target = torch.randn(T, N, 4, generator=torch.Generator().manual_seed(7))
    opt = torch.optim.SGD(module.parameters(), lr=0.1)
    module.train()
    losses = []
    for _ in range(4):
        loss = torch.nn.functional.mse_loss(module(x, cont), target)
        opt.zero_grad()
        loss.backward()
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in module.parameters())
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0], losses


#: Recurrent states per type: h (RNN); h and c (LSTM).
STATES = {"RNN": ["h"], "LSTM": ["h", "c"]}


def _expose_hidden(lp, kind):
    """Caffe's expose_hidden form: the initial states as bottoms, the final ones as tops."""
    lp.recurrent_param.expose_hidden = True
    for state in STATES[kind]:
        lp.bottom.append("x")   # any blob will do: the reader refuses on the counts first
        lp.top.append(f"{state}_T")


def _static_input(lp, kind):
    lp.bottom.append("x")       # x_static, the third bottom


@pytest.mark.parametrize("edit", [_expose_hidden, _static_input],
                         ids=["expose_hidden", "static_input"])
@pytest.mark.parametrize("kind", ["RNN", "LSTM"])
def test_refused_options_give_one_line_and_no_files(tmp_path, capsys, kind, edit):
    """expose_hidden (h_0 in, h_T out) and a static input (x_static) are refused by the
    reader (the back ends do not run them either), so -o model.py writes nothing."""
    from converter.caffe.writer import net_to_proto
    net = parse_prototxt_text(recurrent_net(kind, (T, N, 5)))
    netp = net_to_proto(net, _weights(net))
    lp = next(lp for lp in netp.layer if lp.name == "rec")
    edit(lp, kind)
    message = f"has {len(lp.bottom)} bottom(s) and {len(lp.top)} top(s)"
    model = tmp_path / "seq.caffemodel"
    model.write_bytes(netp.SerializeToString())
    assert main(["caffe2torch", str(model), "-o", str(tmp_path / "seq.py")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "'rec'" in err and message in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["seq.caffemodel"]
