"""Caffe's protobuf message classes, built at import time from ``caffe.proto``.

Usage::

    from converter.caffe.proto import NetParameter, BlobProto
    from converter.caffe import proto
    net = proto.pb.NetParameter()

The schema is compiled by :mod:`converter.caffe.protoc` (no ``protoc`` needed) into a private
``DescriptorPool``, so it never clashes with another ``caffe.proto`` a user's process may
already have loaded (e.g. pycaffe's ``caffe_pb2``). Works with protobuf 4.x to 7.x (upb,
C++ and pure-Python back ends).
"""

from __future__ import annotations

import types
from importlib import resources

from google.protobuf import descriptor_pool, message_factory
from google.protobuf.internal.enum_type_wrapper import EnumTypeWrapper

from .protoc import compile_proto

PROTO_NAME = "resnet_convert/caffe.proto"


def message_class(descriptor):
    """The concrete message class for ``descriptor`` on any protobuf >= 4."""
    get = getattr(message_factory, "GetMessageClass", None)
    if get is not None:  # protobuf >= 4.22
        return get(descriptor)
    return message_factory.MessageFactory(descriptor.file.pool).GetPrototype(descriptor)


def _build() -> types.SimpleNamespace:
    text = resources.files(__package__).joinpath("caffe.proto").read_text(encoding="utf-8")
    pool = descriptor_pool.DescriptorPool()
    file_desc = pool.Add(compile_proto(text, PROTO_NAME))
    if not hasattr(file_desc, "message_types_by_name"):  # older pools return the proto back
        file_desc = pool.FindFileByName(PROTO_NAME)
    ns = types.SimpleNamespace(DESCRIPTOR=file_desc, pool=pool)
    for name, desc in file_desc.message_types_by_name.items():
        setattr(ns, name, message_class(desc))
    for name, enum in file_desc.enum_types_by_name.items():
        setattr(ns, name, EnumTypeWrapper(enum))
    return ns


#: Namespace holding every message class (``pb.NetParameter``) and top-level enum (``pb.Phase``).
pb = _build()

NetParameter = pb.NetParameter
LayerParameter = pb.LayerParameter
V1LayerParameter = pb.V1LayerParameter
BlobProto = pb.BlobProto
BlobShape = pb.BlobShape
BlobProtoVector = pb.BlobProtoVector
SolverParameter = pb.SolverParameter
ParamSpec = pb.ParamSpec
NetState = pb.NetState
NetStateRule = pb.NetStateRule
FillerParameter = pb.FillerParameter
TransformationParameter = pb.TransformationParameter
Datum = pb.Datum
Phase = pb.Phase
TRAIN = 0
TEST = 1

__all__ = ["pb", "NetParameter", "LayerParameter", "V1LayerParameter", "BlobProto", "BlobShape",
           "BlobProtoVector", "SolverParameter", "ParamSpec", "NetState", "NetStateRule",
           "FillerParameter", "TransformationParameter", "Datum", "Phase", "TRAIN", "TEST"]
