"""Inputs and outputs shared by all families: deploy ``input`` or train Data layers, and
the Softmax (deploy) or SoftmaxWithLoss + Accuracy (train) head."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Tuple

from ..ir import DataParam, Net, TransformParam
from .blocks import NetBuilder


@dataclass(frozen=True)
class DataSpec:
    """Where a train_val net reads its data, and how Caffe's Data layer augments it."""
    train_source: str
    test_source: str
    test_batch: int
    mean_file: Optional[str] = None
    mean_value: Tuple[float, ...] = ()
    backend: str = "LMDB"
    scale: float = 1.0
    mirror: bool = True            # random flips in TRAIN (never in TEST)
    crop: Optional[int] = None     # crop_size; None: the net's input size, 0: no crop


#: ImageNet: BGR channel means as in Kaiming's train_val example; 224 crops, flips in TRAIN.
IMAGENET_DATA = DataSpec("ilsvrc12_train_lmdb", "ilsvrc12_val_lmdb", test_batch=50,
                         mean_value=(104.0, 117.0, 123.0))
#: CIFAR: the paper pads 4 pixels and takes random 32x32 crops. Caffe's Data layer cannot pad,
#: so the LMDBs are expected to hold 40x40 zero-padded images: a random crop in TRAIN is the
#: paper's augmentation and the TEST centre crop is exactly the original image.
CIFAR_DATA = DataSpec("cifar10_train_lmdb", "cifar10_test_lmdb", test_batch=100,
                      mean_file="cifar10_mean.binaryproto")


def data_layers(b: NetBuilder, spec: DataSpec, batch: int, crop: int) -> str:
    """Append the TRAIN and TEST Data layers (tops ``data`` and ``label``); return ``data``.

    ``crop`` (the net's input size) is the crop_size unless ``spec.crop`` sets one."""
    crop = crop if spec.crop is None else spec.crop
    for phase, source, size, mirror in (("TRAIN", spec.train_source, batch, spec.mirror),
                                        ("TEST", spec.test_source, spec.test_batch, False)):
        transform = TransformParam(scale=spec.scale, mirror=mirror, crop_size=crop,
                                   mean_file=spec.mean_file, mean_value=spec.mean_value)
        params = DataParam(source=source, batch_size=size, backend=spec.backend,
                           transform=transform)
        # Distinct names keep Net.validate() happy; Caffe would accept a shared name too.
        name = "data" if phase == "TRAIN" else "data_test"
        b.add(name, "Data", [], ["data", "label"], params, phase=phase)
    return "data"


def finish(b: NetBuilder, name: str, logits: str, batch: int, size: int) -> Net:
    """Append the head and wrap the layers in a Net (deploy nets declare ``data``)."""
    if b.train:
        b.add("loss", "SoftmaxWithLoss", [logits, "label"], ["loss"])
        b.add("accuracy", "Accuracy", [logits, "label"], ["accuracy"], phase="TEST")
        return Net(name=name, layers=b.layers)
    b.add("prob", "Softmax", [logits], ["prob"])
    return Net(name=name, layers=b.layers, inputs={"data": (batch, 3, size, size)},
               input_style="input_dim")


def validated(net: Net, deploy_twin: Callable[[], Net]) -> Net:
    """Validate ``net``. Data layers carry no shape, so a train net is structure-checked
    and its shapes are checked through the identical deploy net ``deploy_twin()``."""
    if net.inputs:
        net.validate()
    else:
        net.validate(shapes=False)
        deploy_twin()
    return net
