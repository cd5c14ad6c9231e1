"""``-o model.py`` for Caffe's recurrent types (RNN, LSTM, LSTMUnit): the generated
``CaffeRNN`` / ``CaffeLSTM`` / ``caffe_lstm_unit`` against the torch back end's modules, with
and without a static input and expose_hidden, over cont patterns with starts at t = 0 and
resets mid-sequence; resets that really restart a sequence; initial states used exactly
where cont continues them; training; and miscounted layers refused with one line and no
files. Real Caffe's outputs are golden/layers_recurrent*.h5's (tests/test_codegen.py).
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

T, N, H = 6, 3, 4
#: cont (T, N) patterns, 0 where a sequence starts: every stream starts at t = 0 only;
#: resets mid-sequence at different steps per stream (two in stream 0); every step a start;
#: no start at all (the initial state, zero or given, carries in).
CONT = {
    "one_sequence": [[0] * N] + [[1] * N] * (T - 1),
    "mid_reset": [[0, 0, 0], [1, 1, 1], [0, 1, 1], [1, 1, 0], [0, 1, 1], [1, 0, 1]],
    "every_step": [[0] * N] * T,
    "never_start": [[1] * N] * T,
}
#: x's shape, x_static's (None: no static input), expose_hidden.
LAYOUTS = {
    "plain": ((T, N, 5), None, False),
    "x_4d": ((T, N, 2, 3), None, False),
    "static": ((T, N, 5), (N, 5), False),
    "static_3d": ((T, N, 5), (N, 2, 3), False),
    "expose_hidden": ((T, N, 5), None, True),
    "static_and_hidden": ((T, N, 2, 3), (N, 2, 3), True),
}
#: The recurrent states of each type, in Caffe's bottom and top order.
STATES = {"RNN": ["h"], "LSTM": ["h", "c"]}


def _dims(shape) -> str:
    return " ".join(f"dim: {d}" for d in shape)


def recurrent_net(kind: str, x_shape, static=None, expose=False) -> str:
    """A prototxt with one RNN or LSTM layer named ``rec`` (H outputs) on x, cont [, xs]
    [, h0 (, c0)], tops rec [, rec_hT (, rec_cT)]."""
    names, shapes = ["x", "cont"], [x_shape, x_shape[:2]]
    if static:
        names, shapes = names + ["xs"], shapes + [static]
    states = STATES[kind] if expose else []
    names += [f"{s}0" for s in states]
    shapes += [(1, x_shape[1], H)] * len(states)
    tops = ["rec"] + [f"rec_{s}T" for s in states]
    return f'''name: "seq"
layer {{ name: "input" type: "Input" {" ".join(f'top: "{n}"' for n in names)}
  input_param {{ {" ".join(f"shape {{ {_dims(s)} }}" for s in shapes)} }} }}
layer {{ name: "rec" type: "{kind}" {" ".join(f'bottom: "{n}"' for n in names)}
  {" ".join(f'top: "{t}"' for t in tops)}
  recurrent_param {{ num_output: {H} expose_hidden: {str(expose).lower()} }} }}
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


def _inputs(net, cont, seed=1):
    """The net's inputs in order: normal values, ``cont`` for cont."""
    g = torch.Generator().manual_seed(seed)
    return tuple(torch.tensor(cont, dtype=torch.float32) if name == "cont"
                 else torch.randn(*shape, generator=g)
                 for name, shape in net.input_blobs().items())


def _tuple(y):
    return y if isinstance(y, tuple) else (y,)


@pytest.mark.parametrize("cont", sorted(CONT))
@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("kind", ["RNN", "LSTM"])
def test_generated_recurrent_equals_the_back_end(kind, layout, cont):
    x_shape, static, expose = LAYOUTS[layout]
    net = parse_prototxt_text(recurrent_net(kind, x_shape, static, expose))
    weights = _weights(net)
    module, gen = _generated(net, weights)
    reference = to_torch(net, weights)
    args = _inputs(net, CONT[cont])
    with torch.no_grad():
        got, expected = _tuple(module(*args)), _tuple(reference(*args))
    assert len(got) == len(expected) == 1 + expose * len(STATES[kind])
    # The same float32 operations in the same order as the back end: bit for bit.
    for a, b in zip(got, expected):
        assert torch.equal(a, b), (a - b).abs().max()
    assert got[0].shape == (T, N, H) and all(s.shape == (1, N, H) for s in got[1:])
    helper = "CaffeRNN" if kind == "RNN" else "CaffeLSTM"
    size = f", static_size={int(np.prod(static[1:]))}" if static else ""
    flag = ", expose_hidden=True" if expose else ""
    assert f"self.rec = {helper}({int(np.prod(x_shape[2:]))}, {H}{size}{flag})" in gen.source


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


@pytest.mark.parametrize("layout", ["plain", "static"])
@pytest.mark.parametrize("kind", ["RNN", "LSTM"])
def test_a_reset_starts_the_sequence_afresh(kind, layout):
    """Where cont is 0 at step s, the outputs from s on are those of the sequence x[s:] run
    alone: nothing of the earlier steps leaks through h (or c)."""
    x_shape, static, _ = LAYOUTS[layout]
    net = parse_prototxt_text(recurrent_net(kind, x_shape, static))
    module, _ = _generated(net, _weights(net, seed=3))
    x, cont, *rest = _inputs(net, CONT["mid_reset"], seed=4)
    with torch.no_grad():
        whole = module(x, cont, *rest)
        tail = module(x[2:], cont[2:], *rest)      # stream 0 restarts at t = 2
        carried = module(x[2:], torch.ones_like(cont[2:]), *rest)
    # Equal up to BLAS blocking for another row count: measured 0 here; 1e-6 is ~8 ulps
    # of these tanh-bounded values.
    torch.testing.assert_close(whole[2:, 0], tail[:, 0], rtol=0, atol=1e-6)
    assert not torch.allclose(whole[2:, 1], tail[:, 1])  # stream 1 carries its state on
    assert not torch.allclose(whole[2:3, 1], carried[:1, 1])


@pytest.mark.parametrize("kind", ["RNN", "LSTM"])
def test_initial_states_count_where_cont_continues_them(kind):
    """With expose_hidden, h_0 (and c_0) change exactly the streams whose cont is 1 at t = 0
    (recurrent_layer.cpp feeds them to the first step, where cont_1 gates them)."""
    net = parse_prototxt_text(recurrent_net(kind, (T, N, 5), expose=True))
    module, _ = _generated(net, _weights(net, seed=8))
    x, cont, *states = _inputs(net, CONT["one_sequence"], seed=9)
    cont[0] = torch.tensor([1.0, 0.0, 1.0])
    with torch.no_grad():
        given = module(x, cont, *states)[0]
        zero = module(x, cont, *[torch.zeros_like(s) for s in states])[0]
    assert torch.equal(given[:, 1], zero[:, 1])
    assert not torch.allclose(given[0, 0], zero[0, 0])
    assert not torch.allclose(given[0, 2], zero[0, 2])


@pytest.mark.parametrize("kind, layout, names", [
    ("RNN", "plain", ["W_xh", "b_h", "W_hh", "W_ho", "b_o"]),
    ("LSTM", "plain", ["W_xc", "b_c", "W_hc"]),
    ("RNN", "static_and_hidden", ["W_xh", "b_h", "W_xh_static", "W_hh", "W_ho", "b_o"]),
    ("LSTM", "static_and_hidden", ["W_xc", "b_c", "W_xc_static", "W_hc"]),
])
def test_parameters_are_caffes_blobs_and_train(kind, layout, names):
    """The state_dict holds Caffe's blobs under Caffe's names, in Caffe's order and layout;
    every one gets a gradient and a few SGD steps lower the loss."""
    x_shape, static, expose = LAYOUTS[layout]
    net = parse_prototxt_text(recurrent_net(kind, x_shape, static, expose))
    weights = _weights(net, seed=5)
    module, gen = _generated(net, weights)
    assert list(gen.tensors) == [f"rec.{n}" for n in names]
    for blob, name in zip(weights["rec"], names):
        np.testing.assert_array_equal(gen.tensors[f"rec.{name}"], blob)
    args = _inputs(net, CONT["mid_reset"], seed=6)
    target = torch.randn(T, N, H, generator=torch.Generator().manual_seed(7))
    opt = torch.optim.SGD(module.parameters(), lr=0.1)
    module.train()
    losses = []
    for _ in range(4):
        loss = torch.nn.functional.mse_loss(_tuple(module(*args))[0], target)
        opt.zero_grad()
        loss.backward()
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in module.parameters())
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0], losses


def _one_top_too_many(lp):
    lp.top.append("extra")


def _two_bottoms_too_many(lp):
    lp.bottom.extend(["x", "x"])   # (one more would be read as x_static)


@pytest.mark.parametrize("edit", [_one_top_too_many, _two_bottoms_too_many],
                         ids=["tops", "bottoms"])
@pytest.mark.parametrize("layout", ["plain", "static_and_hidden"])
@pytest.mark.parametrize("kind", ["RNN", "LSTM"])
def test_miscounted_layers_give_one_line_and_no_files(tmp_path, capsys, kind, layout, edit):
    """Caffe's bottom/top counts follow expose_hidden (recurrent_layer.hpp): x, cont, an
    optional x_static, then one bottom and one top per state; anything else is refused."""
    from converter.caffe.writer import net_to_proto
    x_shape, static, expose = LAYOUTS[layout]
    net = parse_prototxt_text(recurrent_net(kind, x_shape, static, expose))
    netp = net_to_proto(net, _weights(net))
    lp = next(lp for lp in netp.layer if lp.name == "rec")
    edit(lp)
    model = tmp_path / "seq.caffemodel"
    model.write_bytes(netp.SerializeToString())
    assert main(["caffe2torch", str(model), "-o", str(tmp_path / "seq.py")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "'rec'" in err, err
    assert f"has {len(lp.bottom)} bottom(s) and {len(lp.top)} top(s)" in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["seq.caffemodel"]


@pytest.mark.parametrize("bad", ["h0", "xs"])
def test_misshapen_state_or_static_input_is_a_shape_error(bad):
    from converter.errors import ShapeError
    from converter.ir.shapes import infer_shapes
    text = recurrent_net("LSTM", (T, N, 5), (N, 5), True)
    text = text.replace(f"dim: 1 dim: {N} dim: {H}" if bad == "h0" else f"dim: {N} dim: 5 ",
                        f"dim: 1 dim: {N} dim: {H + 1}" if bad == "h0" else f"dim: {N + 1} "
                        "dim: 5 ", 1)
    with pytest.raises(ShapeError, match="needs x"):
        infer_shapes(parse_prototxt_text(text))
