"""``resnet-gen mxnet``, ``resnet-convert caffe2mxnet`` and ``verify --framework mxnet``:
generated and converted nets load with plain MXNet (load_checkpoint and SymbolBlock)."""

from __future__ import annotations

import numpy as np
import pytest
from optional import need

from golden_support import GOLDEN_DIR, golden_caffemodel
from netutil import random_weights

mx = need("mxnet")
pytestmark = pytest.mark.mxnet

from converter.builders import build  # noqa: E402
from converter.caffe.writer import write_caffemodel  # noqa: E402
from converter.cli.convert import main as convert_main  # noqa: E402
from converter.cli.gen import main as gen_main  # noqa: E402


def load_both(prefix, x):
    """Outputs of a checkpoint through load_checkpoint+Module-free bind and SymbolBlock."""
    sym, args, aux = mx.model.load_checkpoint(str(prefix), 0)
    exe = sym.bind(mx.cpu(), args={**args, "data": mx.nd.array(x)}, aux_states=aux,
                   grad_req="null")
    first = exe.forward(is_train=False)[0].asnumpy()
    block = mx.gluon.SymbolBlock.imports(f"{prefix}-symbol.json", ["data"],
                                         f"{prefix}-0000.params")
    second = block(mx.nd.array(x)).asnumpy()
    return first, second


@pytest.mark.parametrize("argv,shape,classes", [
    (["--n", "3"], (2, 3, 32, 32), 10),
    (["--n", "2", "--variant", "mxnet"], (2, 3, 32, 32), 10),
    (["--depth", "18"], (1, 3, 224, 224), 1000),
])
def test_resnet_gen_mxnet_symbol(argv, shape, classes, tmp_path):
    out = tmp_path / "net-symbol.json"
    assert gen_main(["mxnet", *argv, "-o", str(out)]) == 0
    sym = mx.sym.load(str(out))
    assert sym.list_arguments()[0] == "data"
    _, out_shapes, _ = sym.infer_shape(data=shape)
    assert out_shapes == [(shape[0], classes)]


def test_generated_cifar_net_checkpoint_loads_both_ways(tmp_path):
    net = build(n=1, variant="mxnet")
    net.validate()
    write_caffemodel(net, random_weights(net, scale=0.2), tmp_path / "m.caffemodel")
    assert convert_main(["caffe2mxnet", str(tmp_path / "m.caffemodel"),
                         "-o", str(tmp_path / "cifar")]) == 0
    x = np.random.RandomState(0).standard_normal((3, 3, 32, 32)).astype(np.float32)
    first, second = load_both(tmp_path / "cifar", x)
    assert first.shape == (3, 10)
    np.testing.assert_allclose(first, second, atol=1e-6)
    assert (tmp_path / "cifar-preprocess.json").exists()


def test_converted_kaiming_net_loads_both_ways_and_matches_caffe(tmp_path):
    from converter.golden import read_golden
    golden = read_golden(GOLDEN_DIR / "kaiming_resnet50.h5")
    model = golden_caffemodel(golden, tmp_path)
    assert convert_main(["caffe2mxnet", str(model), "-o", str(tmp_path / "r50")]) == 0
    x = golden.inputs["data"]
    first, second = load_both(tmp_path / "r50", np.concatenate([x, x]))
    caffe_prob = golden.blobs["prob"]
    # prob is the last blob; 1e-3 is the measured ResNet-50 parity tolerance (blob scale).
    for got in (first, second):
        assert np.abs(got - caffe_prob).max() <= 1e-3 * np.abs(caffe_prob).max()


def test_verify_framework_mxnet(tmp_path, capsys):
    from converter.golden import read_golden
    golden_path = GOLDEN_DIR / "cifar_n3_B.h5"
    model = golden_caffemodel(read_golden(golden_path), tmp_path)
    code = convert_main(["verify", str(model), "--golden", str(golden_path),
                         "--framework", "mxnet"])
    out = capsys.readouterr().out
    assert code == 0 and out.splitlines()[-1].startswith("PASS"), out[-2000:]


def test_caffe2mxnet_outputs_are_a_group_in_order(tmp_path):
    from converter import to_torch
    net = build(n=1, shortcut="B")
    weights = random_weights(net, scale=0.2)
    write_caffemodel(net, weights, tmp_path / "m.caffemodel")
    assert convert_main(["caffe2mxnet", str(tmp_path / "m.caffemodel"), "-o",
                         str(tmp_path / "f"), "--outputs", "prob,global_pool"]) == 0
    sym, args, aux = mx.model.load_checkpoint(str(tmp_path / "f"), 0)
    x = np.random.RandomState(2).standard_normal((2, 3, 32, 32)).astype(np.float32)
    exe = sym.bind(mx.cpu(), args={**args, "data": mx.nd.array(x)}, aux_states=aux,
                   grad_req="null")
    prob, pool = (o.asnumpy() for o in exe.forward(is_train=False))
    import torch
    want_prob, want_pool = to_torch(net, weights, outputs=["prob", "global_pool"])(
        torch.from_numpy(x))
    np.testing.assert_allclose(prob, want_prob.detach().numpy(), atol=1e-6)
    np.testing.assert_allclose(pool, want_pool.detach().numpy(), rtol=1e-5, atol=1e-5)
