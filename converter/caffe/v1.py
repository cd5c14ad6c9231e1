"""Legacy V1 ``layers { type: CONVOLUTION }`` nets, upgraded to ``layer`` messages.

This mirrors Caffe's own UpgradeV1LayerParameter (upgrade_proto.cpp): the enum type becomes
its string name, ``blobs_lr``/``weight_decay``/``param`` become ``ParamSpec`` entries, and
every ``*_param`` message is copied to the same-named LayerParameter field (the messages are
shared; only the field numbers differ).
"""

from __future__ import annotations

from ..errors import CaffeFormatError

#: V1 LayerType enum name -> layer type string (upgrade_proto.cpp's UpgradeV1LayerType).
V1_TYPES = {
    "ABSVAL": "AbsVal", "ACCURACY": "Accuracy", "ARGMAX": "ArgMax", "BNLL": "BNLL",
    "CONCAT": "Concat", "CONTRASTIVE_LOSS": "ContrastiveLoss", "CONVOLUTION": "Convolution",
    "DECONVOLUTION": "Deconvolution", "DATA": "Data", "DROPOUT": "Dropout",
    "DUMMY_DATA": "DummyData", "EUCLIDEAN_LOSS": "EuclideanLoss", "ELTWISE": "Eltwise",
    "EXP": "Exp", "FLATTEN": "Flatten", "HDF5_DATA": "HDF5Data", "HDF5_OUTPUT": "HDF5Output",
    "HINGE_LOSS": "HingeLoss", "IM2COL": "Im2col", "IMAGE_DATA": "ImageData",
    "INFOGAIN_LOSS": "InfogainLoss", "INNER_PRODUCT": "InnerProduct", "LRN": "LRN",
    "MEMORY_DATA": "MemoryData", "MULTINOMIAL_LOGISTIC_LOSS": "MultinomialLogisticLoss",
    "MVN": "MVN", "POOLING": "Pooling", "POWER": "Power", "RELU": "ReLU",
    "SIGMOID": "Sigmoid", "SIGMOID_CROSS_ENTROPY_LOSS": "SigmoidCrossEntropyLoss",
    "SILENCE": "Silence", "SOFTMAX": "Softmax", "SOFTMAX_LOSS": "SoftmaxWithLoss",
    "SPLIT": "Split", "SLICE": "Slice", "TANH": "TanH", "WINDOW_DATA": "WindowData",
    "THRESHOLD": "Threshold",
}
V1_ENUMS = {v: k for k, v in V1_TYPES.items()}

# V1 fields with a same-named LayerParameter field and identical meaning.
_COPIED = {"name", "bottom", "top", "include", "exclude", "blobs", "loss_weight"}


def _is_repeated(field) -> bool:
    # protobuf >= 6 has FieldDescriptor.is_repeated; older releases only have label.
    flag = getattr(field, "is_repeated", None)
    return flag if flag is not None else field.label == field.LABEL_REPEATED


# V1 fields handled explicitly below.
_SPECIAL = {"type", "param", "blob_share_mode", "blobs_lr", "weight_decay"}


def _param_specs(v1, layer, file) -> None:
    """blobs_lr/weight_decay/param/blob_share_mode -> one ParamSpec per blob."""
    n = max(len(v1.param), len(v1.blob_share_mode), len(v1.blobs_lr), len(v1.weight_decay))
    for i in range(n):
        spec = layer.param.add()
        if i < len(v1.param):
            spec.name = v1.param[i]
        if i < len(v1.blob_share_mode):
            spec.share_mode = v1.blob_share_mode[i]
        if i < len(v1.blobs_lr):
            spec.lr_mult = v1.blobs_lr[i]
        if i < len(v1.weight_decay):
            spec.decay_mult = v1.weight_decay[i]


def upgrade_v1_layer(v1, layer_cls, *, file=None):
    """Return a ``layer_cls`` (LayerParameter) message equivalent to V1 layer ``v1``."""
    layer = layer_cls()
    type_name = v1.DESCRIPTOR.fields_by_name["type"].enum_type \
        .values_by_number[v1.type].name if v1.HasField("type") else "NONE"
    if type_name not in V1_TYPES:
        raise CaffeFormatError(f"V1 layer type {type_name} has no modern equivalent",
                               file=file, layer=v1.name or None)
    layer.type = V1_TYPES[type_name]
    for field, value in v1.ListFields():
        name = field.name
        if name in _SPECIAL:
            continue
        if name in _COPIED:
            target = getattr(layer, name)
            (target.extend(value) if _is_repeated(field)
             else setattr(layer, name, value))
        else:  # a *_param message shared with LayerParameter
            getattr(layer, name).CopyFrom(value)
    _param_specs(v1, layer, file)
    return layer


def downgrade_layer(layer, v1_cls):
    """The V1 form of a LayerParameter (for writing legacy files in tests)."""
    v1 = v1_cls()
    v1.type = v1_cls.LayerType.Value(V1_ENUMS[layer.type])
    for field, value in layer.ListFields():
        name = field.name
        if name in ("type", "phase"):
            continue
        if name == "param":
            v1.blobs_lr.extend(s.lr_mult for s in value)
            v1.weight_decay.extend(s.decay_mult for s in value)
        elif name in _COPIED:
            target = getattr(v1, name)
            (target.extend(value) if _is_repeated(field)
             else setattr(v1, name, value))
        elif name in v1.DESCRIPTOR.fields_by_name:
            getattr(v1, name).CopyFrom(value)
        else:
            raise ValueError(f"{name} has no V1 equivalent")
    return v1
