"""torchvision's classifiers exported to Caffe and run in real Caffe (seeded weights,
randomised BatchNorm statistics; pretrained weights cannot be downloaded here).

torchvision's wheel only imports beside its own torch release, so these tests run in a
second venv (.ci/run: torch 2.14.1 + torchvision 0.29.1, ``pytest -m torchvision`` with
RESNET_CONVERT_REQUIRE_TORCHVISION=1); elsewhere they skip. Each net runs once, at batch 1
and the smallest input its architecture takes: ResNets, ResNeXt, wide ResNet, SqueezeNet,
GoogLeNet, DenseNet and MobileNetV2 end in adaptive average pooling and run at 64x64; VGG and AlexNet
end in a fixed 7x7 / 6x6 adaptive pool that only 224x224 reaches exactly.

Tolerance, measured per net as in test_frontend_torch: Caffe vs torch float32 at most 4x
the float32 floor (torch float32 vs float64), never less than 1e-6.
"""

from __future__ import annotations

import os

import pytest
import torch

from test_frontend_torch import check_in_caffe
from caffe_support import require_caffe
import torch_models as M

pytestmark = pytest.mark.torchvision


def torchvision_models():
    try:
        import torchvision.models as models
    except Exception as exc:  # the wheel fails to load beside another torch: many types
        if os.environ.get("RESNET_CONVERT_REQUIRE_TORCHVISION") == "1":
            pytest.fail(f"torchvision required but not importable: {exc}")
        pytest.skip(f"torchvision not importable here ({type(exc).__name__})")
    return models


#: name -> input size (batch 1).
NETS = {
    "resnet18": 64, "resnet34": 64, "resnet50": 64, "resnet101": 64, "resnet152": 64,
    "resnext50_32x4d": 64, "wide_resnet50_2": 64, "squeezenet1_1": 64, "googlenet": 64,
    "densenet121": 64, "mobilenet_v2": 64, "vgg16_bn": 224, "alexnet": 224,
}


def build(name):
    models = torchvision_models()
    kwargs = {"aux_logits": False, "init_weights": False} if name == "googlenet" else {}
    torch.manual_seed(0)
    return M.randomise(getattr(models, name)(weights=None, **kwargs), seed=7)


@pytest.mark.caffe
@pytest.mark.parametrize("name", sorted(NETS))
def test_torchvision_net_matches_torch_in_caffe(name, tmp_path):
    require_caffe()
    model = build(name)
    size = NETS[name]
    x = torch.randn((1, 3, size, size), generator=torch.Generator().manual_seed(8))
    errors, floors = check_in_caffe(model, x, tmp_path)
    print(name, "caffe vs torch", errors, "float32 floor", floors)
