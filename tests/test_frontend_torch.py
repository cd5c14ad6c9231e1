"""PyTorch -> Caffe export (converter.from_torch + save_caffe), proven in real Caffe.

Each net is exported, run in real BVLC Caffe (tools/caffe_forward.py in the chroot) and
compared with torch's own float32 output. The tolerance is measured per net: the float32
floor is torch float32 vs the same net in float64 (blob-scale relative error), and Caffe may
differ from torch by at most 4x that floor (two float32 implementations, each about one floor
from the exact value), never less than 1e-6.
"""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest

from optional import need

torch = need("torch")
from torch import nn  # noqa: E402

import converter
from converter.errors import UnsupportedLayerError
from converter.frontends.torch import lower
from caffe_support import caffe_forward, rel_error, require_caffe
import torch_models as M

FLOOR_FACTOR, MIN_TOL = 4.0, 1e-6


def export(model, x, tmp_path, name="net"):
    """Export and save; returns the net and its output blobs in the model's order."""
    net, weights, outputs = lower(model, (x,))
    converter.save_caffe(net, weights, tmp_path / name)
    return net, outputs


def check_in_caffe(model, x, tmp_path):
    """Export, run in Caffe, compare every output with torch; returns (errors, floors)."""
    with torch.no_grad():
        ref32 = model(x)
        ref64 = copy.deepcopy(model).double()(x.double())
    ref32 = ref32 if isinstance(ref32, tuple) else (ref32,)
    ref64 = ref64 if isinstance(ref64, tuple) else (ref64,)
    net, outputs = export(model, x, tmp_path)
    blobs = caffe_forward(tmp_path / "net.prototxt", tmp_path / "net.caffemodel",
                          {net.layers[0].tops[0]: x.numpy()}, names=outputs)
    assert len(outputs) == len(ref32)
    errors, floors = [], []
    for name, a, b in zip(outputs, ref32, ref64):
        floor = rel_error(a.numpy(), b.numpy())
        err = rel_error(blobs[name], a.numpy())
        errors.append(err)
        floors.append(floor)
        assert err <= max(FLOOR_FACTOR * floor, MIN_TOL), (name, err, floor)
    return errors, floors


NETS = {
    "resnet_basic": (lambda: M.ResNet(M.BasicBlock, [1, 1, 1, 1]), (2, 3, 64, 64)),
    "resnet_bottleneck": (lambda: M.ResNet(M.Bottleneck, [1, 2, 1, 1]), (1, 3, 64, 64)),
    "resnext": (lambda: M.ResNet(M.Bottleneck, [1, 1, 1, 1], groups=4, width=8),
                (1, 3, 64, 64)),
    "wide_resnet": (lambda: M.ResNet(M.Bottleneck, [1, 1, 1, 1], width=128), (1, 3, 64, 64)),
    "vgg_bn": (M.VGGBN, (2, 3, 24, 24)),
    "squeezenet": (M.SqueezeNet, (2, 3, 65, 65)),
    "googlenet": (M.GoogLeNetish, (2, 3, 47, 47)),
    "densenet": (M.DenseNetish, (2, 3, 16, 16)),
    "arithmetic": (M.Arithmetic, (2, 3, 15, 15)),
}


@pytest.mark.caffe
@pytest.mark.parametrize("name", sorted(NETS))
def test_exported_net_matches_torch_in_caffe(name, tmp_path):
    require_caffe()
    make, shape = NETS[name]
    model = M.randomise(make(), seed=1)
    x = torch.randn(shape, generator=torch.Generator().manual_seed(2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # round_mode: FLOOR (tested below)
        errors, floors = check_in_caffe(model, x, tmp_path)
    print(name, "caffe vs torch", errors, "float32 floor", floors)


def test_names_come_from_modules():
    model = M.randomise(M.ResNet(M.BasicBlock, [1, 1, 1, 1]))
    net, weights = converter.from_torch(model, (torch.zeros(1, 3, 32, 32),))
    names = [layer.name for layer in net.layers]
    for expected in ("conv1", "bn1", "bn1.scale", "layer1.0.conv1", "layer2.0.downsample.0",
                     "layer2.0.downsample.1", "layer1.0.add", "avgpool", "flatten", "fc"):
        assert expected in names, (expected, names)
    assert names.count("layer1.0.relu") == 1 and "layer1.0.relu_1" in names
    assert [w.shape for w in weights["layer1.0.conv1"]] == [(16, 16, 3, 3)]


def test_batchnorm_is_factor_one_plus_scale():
    model = M.randomise(nn.Sequential(nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4, eps=1e-3)))
    net, weights = converter.from_torch(model, (torch.zeros(1, 3, 4, 4),))
    bn, scale = net.layer("1"), net.layer("1.scale")
    assert (bn.type, scale.type, bn.params.eps) == ("BatchNorm", "Scale", 1e-3)
    mean, var, factor = weights["1"]
    np.testing.assert_array_equal(mean, model[1].running_mean.numpy())
    np.testing.assert_array_equal(var, model[1].running_var.numpy())
    assert factor.tolist() == [1.0]
    assert scale.params.bias_term and scale.tops == bn.tops


def test_pooling_rounding_choices():
    model = nn.Sequential(nn.MaxPool2d(2, 2), nn.MaxPool2d(3, 2, ceil_mode=True),
                          nn.AvgPool2d(3, 2, 1, ceil_mode=True))
    with pytest.warns(UserWarning, match="round_mode: FLOOR"):
        net, _ = converter.from_torch(model, (torch.zeros(1, 1, 15, 15),))
    modes = [layer.params.round_mode for layer in net.layers if layer.type == "Pooling"]
    assert modes == ["FLOOR", "CEIL", "CEIL"]


def test_adaptive_average_to_one_is_global():
    net, _ = converter.from_torch(nn.AdaptiveAvgPool2d(1), (torch.zeros(1, 2, 7, 5),))
    assert net.layers[-1].params.global_pooling


class Unsupported(nn.Module):
    def __init__(self):
        super().__init__()
        self.act = nn.GELU()
        self.six = nn.Hardswish()
        self.up = nn.Upsample(scale_factor=1.5, mode="bilinear")  # integer factors export
        self.deconv = nn.ConvTranspose2d(2, 2, 3, 2, 1, output_padding=1)
        self.pool = nn.AvgPool2d(3, 1, 1, count_include_pad=False)

    def forward(self, x):
        return self.up(self.six(self.act(x))) + 1, self.pool(x), self.deconv(x)


def test_every_unsupported_op_reported_at_once():
    with pytest.raises(UnsupportedLayerError) as info:
        converter.from_torch(Unsupported(), (torch.zeros(1, 2, 4, 4),))
    text = str(info.value)
    for expected in ("aten.gelu", "at act", "aten.hardswish", "at six", "not an integer factor",
                     "at up", "output_padding [1, 1]", "at deconv", "count_include_pad=False",
                     "at pool"):
        assert expected in text, (expected, text)


def test_training_mode_batchnorm_refused():
    model = nn.Sequential(nn.BatchNorm2d(2)).train()
    program = torch.export.export(model, (torch.zeros(2, 2, 3, 3),))
    with pytest.raises(UnsupportedLayerError, match="training"):
        converter.from_torch(program)


@pytest.mark.parametrize("name", ["resnet_basic", "arithmetic"])
def test_exported_caffemodel_converts_back(name, tmp_path):
    """What verify does with an exported caffemodel: read it, convert it to torch, run it;
    the result is the source model's (float32 floor, as above)."""
    make, shape = NETS[name]
    model = M.randomise(make(), seed=1)
    x = torch.randn(shape, generator=torch.Generator().manual_seed(2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        net, outputs = export(model, x, tmp_path)
    back_net, back_weights = converter.load_caffe(tmp_path / "net.caffemodel")
    module = converter.to_torch(back_net, back_weights, outputs=outputs)
    with torch.no_grad():
        ours, ref, ref64 = module(x), model(x), copy.deepcopy(model).double()(x.double())
    ours = ours if isinstance(ours, tuple) else (ours,)
    ref = ref if isinstance(ref, tuple) else (ref,)
    ref64 = ref64 if isinstance(ref64, tuple) else (ref64,)
    for a, b, c in zip(ours, ref, ref64):
        floor = rel_error(b.numpy(), c.numpy())
        assert rel_error(a.numpy(), b.numpy()) <= max(FLOOR_FACTOR * floor, MIN_TOL)


def test_relu6_is_built_exactly_from_caffe_1_layers():
    net, _ = converter.from_torch(nn.Sequential(nn.ReLU6()), (torch.zeros(1, 1, 2, 2),))
    assert [layer.type for layer in net.layers[1:]] == ["ReLU", "Power", "Power", "Eltwise",
                                                        "Power"]
    assert net.layers[-1].name == "0" and net.layers[-2].params.operation == "MAX"
    x = torch.tensor([-1.0, 0.0, 3.0, 6.0, 7.5, float("inf")])
    # The same steps in torch: min(max(x, 0), 6) = -max(-max(x, 0), -6), exactly.
    steps = -torch.maximum(-torch.relu(x), torch.full_like(x, -6.0))
    assert torch.equal(steps, nn.ReLU6()(x))


def test_prelu_is_caffe_prelu():
    model = nn.PReLU(3, init=0.25)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([0.25, -0.5, 0.1]))
    net, weights = converter.from_torch(model, (torch.zeros(1, 3, 2, 2),))
    assert [layer.type for layer in net.layers[1:]] == ["PReLU"]
    np.testing.assert_array_equal(weights[net.layers[1].name][0], np.float32([0.25, -0.5, 0.1]))
    net, weights = converter.from_torch(nn.PReLU(), (torch.zeros(1, 3, 2, 2),))
    assert net.layers[1].params.channel_shared and weights[net.layers[1].name][0].shape == ()


def _up(size=None, scale=None, align=False):
    return nn.Upsample(size=size, scale_factor=scale, mode="bilinear", align_corners=align)


#: Modules using the layer types issue 14 brought (Deconvolution, ELU, Swish, PReLU), each
#: exported and run in real Caffe; input shape (N, C, H, W).
NEW_TYPES = {
    "deconv_stride2_pad1": (lambda: nn.ConvTranspose2d(4, 6, 3, 2, 1), (2, 4, 5, 6)),
    "deconv_groups_dilation": (lambda: nn.ConvTranspose2d(4, 6, (3, 2), (1, 2), (2, 0),
                                                          groups=2, dilation=(2, 1)),
                               (1, 4, 6, 5)),
    "deconv_no_bias_depthwise": (lambda: nn.ConvTranspose2d(3, 3, 4, 2, 1, groups=3,
                                                            bias=False), (1, 3, 7, 7)),
    "bilinear_x2": (lambda: _up(scale=2), (2, 3, 5, 6)),
    "bilinear_x3_x4": (lambda: _up(scale=(3, 4)), (1, 2, 4, 3)),
    "bilinear_size_x2_from_1_and_2": (lambda: _up(size=(2, 4)), (1, 2, 1, 2)),
    "bilinear_align_corners": (lambda: _up(size=(9, 13), align=True), (1, 3, 5, 4)),
    "bilinear_align_corners_one_axis": (lambda: _up(size=(4, 7), align=True), (1, 2, 4, 4)),
    "elu": (lambda: nn.Sequential(nn.Conv2d(3, 4, 3), nn.ELU(0.7)), (2, 3, 6, 6)),
    "silu": (lambda: nn.Sequential(nn.Conv2d(3, 4, 3), nn.SiLU()), (2, 3, 6, 6)),
    "prelu": (lambda: nn.Sequential(nn.Conv2d(3, 4, 3), nn.PReLU(4), nn.PReLU()),
              (2, 3, 6, 6)),
}


@pytest.mark.caffe
@pytest.mark.parametrize("name", sorted(NEW_TYPES))
def test_new_layer_types_match_torch_in_caffe(name, tmp_path):
    require_caffe()
    make, shape = NEW_TYPES[name]
    model = M.randomise(make(), seed=3)
    for m in model.modules():  # PReLU slopes: some negative, none the default 0.25
        if isinstance(m, nn.PReLU):
            m.weight.data.uniform_(-0.5, 0.5, generator=torch.Generator().manual_seed(5))
    x = torch.randn(shape, generator=torch.Generator().manual_seed(4))
    errors, floors = check_in_caffe(model, x, tmp_path)
    print(name, "caffe vs torch", errors, "float32 floor", floors)
