"""A tiny compiler for the subset of proto2 that ``caffe.proto`` uses.

protobuf's Python runtime can build message classes from a ``FileDescriptorProto`` but cannot
read ``.proto`` text; that normally needs ``protoc`` at build time, and generated ``_pb2``
modules are tied to the protobuf release that generated them. Parsing our own schema here
keeps the package pure Python and working with every protobuf from 4.x to 7.x.

Supported: ``syntax``, ``package``, top-level and nested ``message`` and ``enum``,
``optional``/``repeated`` scalar, enum and message fields, ``[default = ...]`` and
``[packed = true]``, ``//`` and ``/* */`` comments. Anything else is a SyntaxError.
"""

from __future__ import annotations

import re
from typing import Dict, List, Tuple

from google.protobuf import descriptor_pb2

FDP = descriptor_pb2.FieldDescriptorProto

_SCALARS = {
    "double": FDP.TYPE_DOUBLE, "float": FDP.TYPE_FLOAT, "int64": FDP.TYPE_INT64,
    "uint64": FDP.TYPE_UINT64, "int32": FDP.TYPE_INT32, "uint32": FDP.TYPE_UINT32,
    "bool": FDP.TYPE_BOOL, "string": FDP.TYPE_STRING, "bytes": FDP.TYPE_BYTES,
    "sint32": FDP.TYPE_SINT32, "sint64": FDP.TYPE_SINT64, "fixed32": FDP.TYPE_FIXED32,
    "fixed64": FDP.TYPE_FIXED64, "sfixed32": FDP.TYPE_SFIXED32, "sfixed64": FDP.TYPE_SFIXED64,
}
_LABELS = {"optional": FDP.LABEL_OPTIONAL, "repeated": FDP.LABEL_REPEATED,
           "required": FDP.LABEL_REQUIRED}
_TOKEN = re.compile(r'\s+|//[^\n]*|/\*.*?\*/|"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\''
                    r'|[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[A-Za-z_][\w.]*|[{}\[\]=;]', re.S)


def tokenize(text: str) -> List[str]:
    """Split proto text into tokens, dropping whitespace and comments."""
    tokens, pos = [], 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise SyntaxError(f"unexpected character {text[pos]!r} at offset {pos}")
        tok = m.group()
        if not (tok.isspace() or tok.startswith(("//", "/*"))):
            tokens.append(tok)
        pos = m.end()
    return tokens


class _Parser:
    """Recursive-descent parser building a FileDescriptorProto (type names unresolved)."""

    def __init__(self, tokens: List[str], name: str):
        self.toks, self.i = tokens, 0
        self.file = descriptor_pb2.FileDescriptorProto(name=name, syntax="proto2")

    def take(self, expected: str | None = None) -> str:
        if self.i >= len(self.toks):
            raise SyntaxError("unexpected end of file")
        tok = self.toks[self.i]
        if expected is not None and tok != expected:
            raise SyntaxError(f"expected {expected!r}, got {tok!r} (token {self.i})")
        self.i += 1
        return tok

    def parse(self) -> descriptor_pb2.FileDescriptorProto:
        while self.i < len(self.toks):
            tok = self.take()
            if tok == "syntax":
                self.take("=")
                if self.take().strip("\"'") != "proto2":
                    raise SyntaxError("only proto2 is supported")
                self.take(";")
            elif tok == "package":
                self.file.package = self.take()
                self.take(";")
            elif tok == "message":
                self.message(self.file.message_type.add())
            elif tok == "enum":
                self.enum(self.file.enum_type.add())
            else:
                raise SyntaxError(f"unexpected {tok!r} at top level")
        return self.file

    def message(self, msg) -> None:
        msg.name = self.take()
        self.take("{")
        while (tok := self.take()) != "}":
            if tok == "message":
                self.message(msg.nested_type.add())
            elif tok == "enum":
                self.enum(msg.enum_type.add())
            elif tok in _LABELS:
                self.field(msg.field.add(), _LABELS[tok])
            else:
                raise SyntaxError(f"unexpected {tok!r} in message {msg.name}")

    def enum(self, enum) -> None:
        enum.name = self.take()
        self.take("{")
        while (tok := self.take()) != "}":
            value = enum.value.add(name=tok)
            self.take("=")
            value.number = int(self.take())
            self.take(";")

    def field(self, field, label) -> None:
        field.label = label
        field.type_name = self.take()  # resolved later, once every type is known
        field.name = self.take()
        self.take("=")
        field.number = int(self.take())
        if self.toks[self.i] == "[":
            self.take("[")
            while True:
                key = self.take()
                self.take("=")
                value = self.take()
                if key == "default":
                    field.default_value = value
                elif key == "packed":
                    field.options.packed = value == "true"
                else:
                    raise SyntaxError(f"unsupported field option {key!r}")
                if self.take() == "]":
                    break
        self.take(";")


def _collect(scope: str, msgs, enums, kinds: Dict[str, str]) -> None:
    """Record the fully qualified name and kind of every declared type."""
    for e in enums:
        kinds[f"{scope}.{e.name}"] = "enum"
    for m in msgs:
        kinds[f"{scope}.{m.name}"] = "message"
        _collect(f"{scope}.{m.name}", m.nested_type, m.enum_type, kinds)


def _lookup(name: str, scope: str, kinds: Dict[str, str]) -> Tuple[str, str]:
    """Resolve ``name`` as protoc does: innermost enclosing scope first."""
    parts = scope.split(".")
    while parts:
        candidate = ".".join(parts + [name])
        if candidate in kinds:
            return candidate, kinds[candidate]
        parts.pop()
    raise SyntaxError(f"unknown type {name!r} (in {scope[1:]})")


def _default(text: str, ftype: int) -> str:
    """Normalise a default to descriptor form (strings unquoted, numbers canonical)."""
    if ftype in (FDP.TYPE_STRING, FDP.TYPE_BYTES):
        return text[1:-1]
    if ftype in (FDP.TYPE_FLOAT, FDP.TYPE_DOUBLE):
        return repr(float(text))
    if ftype in (FDP.TYPE_BOOL, FDP.TYPE_ENUM):
        return text
    return str(int(text))


def _resolve(scope: str, msgs, kinds: Dict[str, str]) -> None:
    for m in msgs:
        inner = f"{scope}.{m.name}"
        for f in m.field:
            if f.type_name in _SCALARS:
                f.type = _SCALARS[f.type_name]
                f.ClearField("type_name")
            else:
                full, kind = _lookup(f.type_name, inner, kinds)
                f.type_name = full
                f.type = FDP.TYPE_ENUM if kind == "enum" else FDP.TYPE_MESSAGE
            if f.HasField("default_value"):
                f.default_value = _default(f.default_value, f.type)
        _resolve(inner, m.nested_type, kinds)


def compile_proto(text: str, name: str) -> descriptor_pb2.FileDescriptorProto:
    """Compile proto2 ``text`` into a FileDescriptorProto called ``name``."""
    fdp = _Parser(tokenize(text), name).parse()
    root = "." + fdp.package if fdp.package else ""
    kinds: Dict[str, str] = {}
    _collect(root, fdp.message_type, fdp.enum_type, kinds)
    _resolve(root, fdp.message_type, kinds)
    return fdp
