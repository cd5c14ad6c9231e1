"""Fork schemas: reading files written with a Caffe fork's ``caffe.proto`` (``--caffe-proto``).

Forks (SSD, Faster R-CNN, ...) add LayerParameter fields, parameter messages and layer types
to BVLC's schema. :func:`load_schema` compiles the fork's ``.proto`` at run time (with
:mod:`converter.caffe.protoc`, no ``protoc``) and *merges* it into BVLC's: every BVLC field
keeps its name, so the reader and the catalogue work unchanged, and the fork's additions are
recorded as "fork-only" fields. Where the fork gives a BVLC field number to a field of its
own (a fork's ``ceil_mode`` where BVLC has ``round_mode``), the fork's field wins -- its files
were written with it -- and the BVLC field moves to an unused number, so it reads as its
default. A fork that renames or retypes a BVLC field is refused: its files would not mean
what the converter reads them as.

:func:`fork_fields` lists the fork-only fields a layer sets; :func:`unknown_fields` the
fields a binary file holds that the schema does not define at all.
"""

from __future__ import annotations

import hashlib
import types
import warnings
from typing import Dict, List, Optional, Set, Tuple

from google.protobuf import descriptor_pb2, descriptor_pool, unknown_fields as pb_unknown
from google.protobuf.internal.enum_type_wrapper import EnumTypeWrapper

from ..errors import CaffeFormatError, UnsupportedLayerError
from ..fileio import MAX_TEXT_BYTES
from ..layers import LAYERS
from . import proto
from .protoc import compile_proto

#: (message full name, field name) pairs a fork adds to BVLC's schema.
ForkOnly = Set[Tuple[str, str]]
_HINT_LAYERS = 1000
_FREE_NUMBER = 536_000_000  # far above any real field number, below protobuf's 2^29 - 1
_SCHEMAS: Dict[str, "Schema"] = {}


class Schema:
    """A compiled schema: message classes (``NetParameter``, ``LayerParameter``,
    ``BlobProto``), its ``source`` (the fork's .proto path, or None for BVLC) and
    ``fork_only`` (the fields the fork adds)."""

    def __init__(self, ns: types.SimpleNamespace, source=None, fork_only: ForkOnly = frozenset(),
                 text: Optional[str] = None):
        self.pb, self.source, self.fork_only = ns, source, frozenset(fork_only)
        self.text = text  # the fork's .proto text (written into files that need it)
        self.NetParameter, self.LayerParameter = ns.NetParameter, ns.LayerParameter
        self.BlobProto = ns.BlobProto

    @property
    def label(self) -> str:
        """How messages name the schema: "BVLC Caffe's caffe.proto" or the fork's file."""
        return "BVLC Caffe's caffe.proto" if self.source is None else str(self.source)

    @property
    def remedy(self) -> str:
        """What to do about a field the schema lacks (the end of that error line)."""
        if self.source is None:
            return "a Caffe fork's file? pass --caffe-proto FORK.proto, the fork's caffe.proto"
        return "is it the schema the file was written with?"


BVLC = Schema(proto.pb)
_SCHEMAS[proto.PROTO_NAME] = BVLC


def schema_of(msg) -> Schema:
    """The schema a parsed message belongs to (BVLC unless it came from a fork schema)."""
    return _SCHEMAS.get(msg.DESCRIPTOR.file.name, BVLC)


def load_schema(path) -> Schema:
    """Compile the fork schema at ``path`` merged into BVLC's (CaffeFormatError naming the
    file for anything wrong with it: unreadable, not proto2 text, or incompatible)."""
    if isinstance(path, Schema):
        return path
    from .parse import read_bytes
    data = read_bytes(path, MAX_TEXT_BYTES, "fork schema (.proto)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise CaffeFormatError("a fork schema must be .proto text (UTF-8); this is binary",
                               file=path) from None
    return schema_from_text(text, path)


def schema_from_text(text: str, path=None) -> Schema:
    """:func:`load_schema` for the .proto ``text`` (``path`` names it in errors); compiled
    once per distinct text."""
    name = f"resnet_convert/fork-{hashlib.sha256(text.encode()).hexdigest()[:16]}.proto"
    if name in _SCHEMAS:
        return _SCHEMAS[name]
    try:
        fork = compile_proto(text, "fork.proto")
    except (SyntaxError, ValueError, RecursionError) as exc:
        raise CaffeFormatError(f"not a proto2 schema this converter can read: {exc}",
                               file=path) from None
    if not len(fork.message_type) and not len(fork.enum_type):
        raise CaffeFormatError("the schema defines no message: not a fork's caffe.proto",
                               file=path)
    base = descriptor_pb2.FileDescriptorProto()
    proto.pb.DESCRIPTOR.CopyToProto(base)
    base.name = name
    fork_only: ForkOnly = set()
    _rename_package(fork, base.package)
    try:
        _merge_messages(base.message_type, fork.message_type, "." + base.package, fork_only)
        _merge_enums(base.enum_type, fork.enum_type)
        ns = _build(base)
    except _Conflict as exc:
        raise CaffeFormatError(f"{exc}; this converter cannot read files written with it",
                               file=path) from None
    except (TypeError, ValueError, KeyError) as exc:
        raise CaffeFormatError(f"the schema is inconsistent: {exc}", file=path) from None
    _SCHEMAS[name] = schema = Schema(ns, path, fork_only, text)
    return schema


def schema_for_fields(fields) -> Schema:
    """The schema whose LayerParameter has every field in ``fields``: BVLC's if it does,
    else the fork schema loaded last that does (a custom type's parameter field comes from
    its fork); BVLC's when none does (writing then names the missing field)."""
    for schema in reversed(list(_SCHEMAS.values())):
        names = schema.LayerParameter.DESCRIPTOR.fields_by_name
        if all(f in names for f in fields):
            if schema is BVLC or not all(
                    f in BVLC.LayerParameter.DESCRIPTOR.fields_by_name for f in fields):
                return schema
    return BVLC


class _Conflict(Exception):
    """The fork redefines a BVLC field incompatibly."""


def _rename_package(fdp, package: str) -> None:
    """Point the fork's resolved type names at BVLC's package (forks keep ``caffe``)."""
    old = "." + fdp.package if fdp.package else ""

    def fix(msgs):
        for m in msgs:
            for f in m.field:
                if f.type_name.startswith(old + "."):
                    f.type_name = f".{package}{f.type_name[len(old):]}"
            fix(m.nested_type)
    fix(fdp.message_type)


def _same(a, b) -> bool:
    return (a.type, a.label, a.type_name) == (b.type, b.label, b.type_name)


def _merge_field(msg, f, scope: str, fork_only: ForkOnly) -> None:
    by_number = {x.number: x for x in msg.field}
    by_name = {x.name: x for x in msg.field}
    same_number, same_name = by_number.get(f.number), by_name.get(f.name)
    if same_number is not None and same_number.name == f.name:
        if not _same(same_number, f):
            raise _Conflict(f"{msg.name}.{f.name} has another type than in BVLC Caffe")
        return
    if same_name is not None:
        raise _Conflict(f"{msg.name}.{f.name} is field {f.number} here but "
                        f"{same_name.number} in BVLC Caffe")
    if same_number is not None:  # the fork's field owns the number in the fork's files
        same_number.number = _FREE_NUMBER + len(msg.field)
    msg.field.add().CopyFrom(f)
    fork_only.add((scope[1:], f.name))


def _merge_messages(base, fork, scope: str, fork_only: ForkOnly) -> None:
    """Merge the fork's messages into BVLC's (same full name = same message)."""
    known = {m.name: m for m in base}
    for m in fork:
        if m.name not in known:
            base.add().CopyFrom(m)
            continue
        target = known[m.name]
        inner = f"{scope}.{m.name}"
        for f in m.field:
            _merge_field(target, f, inner, fork_only)
        _merge_messages(target.nested_type, m.nested_type, inner, fork_only)
        _merge_enums(target.enum_type, m.enum_type)


def _merge_enums(base, fork) -> None:
    """Add the fork's enums and its new values of BVLC enums; a changed value is refused."""
    known = {e.name: e for e in base}
    for e in fork:
        if e.name not in known:
            base.add().CopyFrom(e)
            continue
        values = {v.name: v.number for v in known[e.name].value}
        for v in e.value:
            if v.name in values and values[v.name] != v.number:
                raise _Conflict(f"enum value {e.name}.{v.name} is {v.number} here but "
                                f"{values[v.name]} in BVLC Caffe")
            if v.name not in values:
                known[e.name].value.add().CopyFrom(v)


def _build(fdp) -> types.SimpleNamespace:
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    file_desc = pool.FindFileByName(fdp.name)
    ns = types.SimpleNamespace(DESCRIPTOR=file_desc, pool=pool)
    for name, desc in file_desc.message_types_by_name.items():
        setattr(ns, name, proto.message_class(desc))
    for name, enum in file_desc.enum_types_by_name.items():
        setattr(ns, name, EnumTypeWrapper(enum))
    return ns


# ------------------------------------------------------------ per-layer checks

def _set_fields(msg, prefix: str = ""):
    """(path, field descriptor, value) of every set field below ``msg`` (blobs skipped:
    their values are numbers, and many)."""
    for fd, value in msg.ListFields():
        if fd.name == "blobs":
            continue
        path = prefix + fd.name
        yield path, fd, value
        if fd.message_type is not None:
            items = [value] if hasattr(value, "ListFields") else list(value)
            for item in items:
                yield from _set_fields(item, path + ".")


def fork_fields(lp, schema: Schema, own: Optional[str] = None) -> List[str]:
    """Paths (``pooling_param.ceil_mode``) of the fork-only fields ``lp`` sets, except
    ``own`` when it is fork-only itself (the parameter field of a registered custom type)
    and what lies below any."""
    if not schema.fork_only:
        return []
    found: List[str] = []
    skip = [own] if (lp.DESCRIPTOR.full_name, own) in schema.fork_only else []
    for path, fd, _ in _set_fields(lp):
        if any(path == p or path.startswith(p + ".") for p in found + skip):
            continue
        if (fd.containing_type.full_name, fd.name) in schema.fork_only:
            found.append(path)
    return found


def unknown_fields(lp) -> List[str]:
    """Paths (``pooling_param.#14``) of the fields a binary layer holds that its schema does
    not define (protobuf keeps them aside as unknown fields)."""
    found = [f"#{f.field_number}" for f in pb_unknown.UnknownFieldSet(lp)]
    for path, fd, value in _set_fields(lp):
        if fd.message_type is None:
            continue
        items = [value] if hasattr(value, "ListFields") else list(value)
        for item in items:
            found += [f"{path}.#{f.field_number}" for f in pb_unknown.UnknownFieldSet(item)]
    return found


#: Fork-only fields known to change what a layer computes: refused, never ignored.
SEMANTIC_FORK_FIELDS = {
    "pooling_param.ceil_mode": "it changes the pooled size, and its meaning in this fork "
                               "is not proven against that fork's Caffe; write the layer with "
                               "BVLC's round_mode (CEIL or FLOOR) instead",
}


def _listing(found) -> str:
    shown = "; ".join(f"'{lp.name}' ({lp.type}): {', '.join(paths)}" for lp, paths in found[:8])
    return shown + (f"; and {len(found) - 8} more layer(s)" if len(found) > 8 else "")


def fork_hint(layers, schema: Schema) -> str:
    """For the unsupported-layer report: a hint to pass ``--caffe-proto`` when layers hold
    fields BVLC Caffe lacks (a fork's file read without its schema), else "". Only the
    first layers are looked at: a corrupt file may hold 10^5 of them, and a hint is a hint."""
    if schema.source is not None or not any(unknown_fields(lp) for lp in layers[:_HINT_LAYERS]):
        return ""
    return (". The file also holds fields that are not in BVLC Caffe's caffe.proto: a Caffe "
            "fork's file? pass --caffe-proto FORK.proto, the fork's caffe.proto")


def check_fields(layers, path, schema: Schema) -> None:
    """Refuse fields a binary file holds that ``schema`` does not define, and fork-only
    fields whose meaning matters (:data:`SEMANTIC_FORK_FIELDS`); warn, in one line, about the
    other fork-only fields of known types, which are ignored. A registered custom type's
    own parameter field is its own."""
    unknown, ignored = [], []
    for lp in layers:
        extra = unknown_fields(lp)
        if extra:
            unknown.append((lp, extra))
        entry = LAYERS.get(lp.type)
        fork = fork_fields(lp, schema, entry.field if entry is not None else None)
        for field in fork:
            if field in SEMANTIC_FORK_FIELDS:
                raise UnsupportedLayerError(
                    f"fork field {field} ({schema.source}) cannot be converted: "
                    f"{SEMANTIC_FORK_FIELDS[field]}", file=path, layer=lp.name,
                    layer_type=lp.type)
        if fork:
            ignored.append((lp, fork))
    if unknown:
        remedy = schema.remedy
        if len(unknown) == 1:
            lp, paths = unknown[0]
            raise CaffeFormatError(f"holds field(s) that are not in {schema.label}: "
                                   f"{', '.join(paths)}; {remedy}", file=path, layer=lp.name,
                                   layer_type=lp.type)
        raise CaffeFormatError(f"{len(unknown)} layers hold fields that are not in "
                               f"{schema.label}: {_listing(unknown)}; {remedy}", file=path)
    if ignored:
        where = f"{path}: " if path else ""
        warnings.warn(f"{where}fields of {schema.source} that BVLC Caffe lacks are ignored: "
                      f"{_listing(ignored)}", stacklevel=3)

