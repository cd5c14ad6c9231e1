"""Turning bytes and text into Caffe messages, with every failure a CaffeFormatError.

Binary files are read once and parsed with ``ParseFromString`` (protobuf's C parsers handle
messages up to 2 GB; nothing here caps at the old 64 MB CodedInputStream limit). Text is
parsed strictly, so a field that BVLC Caffe does not define (``ceil_mode`` from some forks)
is reported with its line and enclosing layer instead of being silently dropped.
"""

from __future__ import annotations

import re

from google.protobuf import message as pb_message
from google.protobuf import text_format

from ..errors import CaffeFormatError
from ..fileio import MAX_TEXT_BYTES, check_input
from .proto import BlobProto, NetParameter

# protobuf refuses messages of 2 GiB or more (sizes are int32 internally).
MAX_BYTES = 2**31 - 1
_TEXT_HINT = re.compile(rb"^\s*(#.*\n\s*)*(name|layers?|input|net|type)\s*[:{]", re.M)


def read_bytes(path, limit: int = MAX_BYTES, what: str = "Caffe file") -> bytes:
    """The bytes of the regular file ``path`` (no FIFO, no device), refused above ``limit``
    (protobuf's size limit unless smaller); reads at most ``limit`` + 1 bytes whatever
    happens to the file meanwhile."""
    size = check_input(path, what)
    if size > limit:
        raise CaffeFormatError(f"{size} bytes is more than a {what} can be "
                               f"({_limit_text(limit)} at most)", file=path)
    try:
        with open(path, "rb") as f:
            data = f.read(limit + 1)
    except OSError as exc:
        raise CaffeFormatError(f"cannot read file: {exc.strerror or exc}", file=path) from None
    if len(data) > limit:
        raise CaffeFormatError(f"the file grew past {_limit_text(limit)} while it was read",
                               file=path)
    return data


def _limit_text(limit: int) -> str:
    return "protobuf's 2 GB message limit" if limit == MAX_BYTES else f"{limit >> 20} MB"


def check_binary_start(path, what: str = "Caffe model (.caffemodel)") -> None:
    """Refuse, from its first bytes alone, a file whose first byte cannot start a protobuf
    message (field number 0, or wire type 6 or 7): a 2 GB file of zeros is not read whole."""
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
    except OSError:
        return  # the full read reports it
    if not head:
        return
    key = head[0]
    if key & 0x07 in (6, 7) or key < 0x08:
        hint = _not_a(head, what, path)
        if hint:
            raise hint
        raise CaffeFormatError(f"not a valid binary {what}: its first byte (0x{key:02x}) "
                               "cannot start one; the file is corrupt or of another kind",
                               file=path)


def looks_like_text(data: bytes) -> bool:
    """True if ``data`` starts like a prototxt (used to explain a failed binary parse)."""
    head = data[:4096]
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return bool(_TEXT_HINT.search(head))


#: Other formats users mistake for a caffemodel, by their first bytes.
_MAGIC = ((b"PK\x03\x04", "a zip archive (a PyTorch .pt/.pth file?)"),
          (b"\x89HDF\r\n\x1a\n", "an HDF5 file"),
          (b"\x1f\x8b", "a gzip file (decompress it first?)"))


def other_format(data: bytes) -> str | None:
    """What ``data`` is, if it is recognisably not a protobuf message (for error hints)."""
    for magic, what in _MAGIC:
        if data.startswith(magic):
            return what
    # Pickle protocol 2+ starts with PROTO (0x80) and its protocol number.
    if len(data) > 1 and data[0] == 0x80 and 2 <= data[1] <= 5:
        return "a Python pickle (never loaded here: unpickling can run code)"
    return None


def _not_a(data: bytes, what: str, path) -> CaffeFormatError | None:
    """The error for a file that is text or another known format, or None."""
    if looks_like_text(data):
        return CaffeFormatError(f"this is a text file (prototxt?), not a binary {what}",
                                file=path)
    other = other_format(data)
    if other:
        return CaffeFormatError(f"this is {other}, not a binary {what}", file=path)
    return None


def parse_binary(data: bytes, path=None, cls=NetParameter, what="Caffe model (.caffemodel)"):
    """Parse a binary message of type ``cls`` (NetParameter by default)."""
    if not data:
        raise CaffeFormatError(f"the file is empty; expected a binary {what}", file=path)
    msg = cls()
    try:
        msg.ParseFromString(data)
    except (pb_message.DecodeError, RuntimeError, ValueError) as exc:
        hint = _not_a(data, what, path)
        if hint:
            raise hint from None
        raise CaffeFormatError(f"not a valid binary {what}: the file is truncated or corrupt "
                               f"({exc})", file=path) from None
    bad = _invalid_string(msg)
    if bad:
        raise CaffeFormatError(f"not a valid binary {what}: the text of field {bad} is not "
                               "UTF-8; the file is corrupt", file=path)
    return msg


def _invalid_string(msg, where: str = "") -> str | None:
    """Path (e.g. ``layer[3].name``) of the first string field that is not UTF-8, or None.

    proto2 does not check UTF-8 when parsing binary; the upb runtime then hands such a field
    back as ``bytes``, which breaks every later use of layer names, types and blob names.
    """
    for fd, value in msg.ListFields():
        if fd.type not in (fd.TYPE_STRING, fd.TYPE_MESSAGE):
            continue  # numbers (blob data above all) need no check and are many
        repeated = not isinstance(value, (str, bytes)) and hasattr(value, "__len__") \
            and not hasattr(value, "ListFields")
        items = value if repeated else [value]
        for i, item in enumerate(items):
            name = f"{where}{fd.name}" + (f"[{i}]" if repeated else "")
            if fd.type == fd.TYPE_STRING:
                if isinstance(item, bytes):
                    return name
            else:
                bad = _invalid_string(item, name + ".")
                if bad:
                    return bad
    return None


def parse_binary_net(data: bytes, path=None, schema=None) -> NetParameter:
    """Parse a .caffemodel (with ``schema``, a fork's: :mod:`converter.caffe.schema`); a
    message without layers is refused as "not a Caffe model"."""
    net = parse_binary(data, path, NetParameter if schema is None else schema.NetParameter)
    if not len(net.layer) and not len(net.layers):
        hint = _not_a(data, "Caffe model (.caffemodel)", path)
        if hint:
            raise hint
        raise CaffeFormatError("not a Caffe model: the file parses but defines no layers "
                               "(truncated, or not a .caffemodel)", file=path)
    return net


def parse_binaryproto(data: bytes, path=None):
    """Parse a ``.binaryproto`` (one BlobProto, e.g. a mean image)."""
    blob = parse_binary(data, path, BlobProto, "Caffe blob (.binaryproto)")
    if not len(blob.data) and not len(blob.double_data):
        raise CaffeFormatError("not a Caffe .binaryproto: no blob data", file=path)
    return blob


def layer_at_line(text: str, lineno: int, column: int = 0) -> str | None:
    """Name of the top-level ``layer``/``layers`` block enclosing 1-based ``lineno``:``column``."""
    depth, current = 0, None
    token = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|#[^\n]*|[{}]|\blayers?\b|'
                       r'\bname\s*:\s*("(?:[^"\\]|\\.)*"|\'[^\']*\')')
    lines = text.splitlines()[:max(lineno, 0)]
    if lines and column > 0:
        lines[-1] = lines[-1][:column]
    block_start = False
    for m in token.finditer("\n".join(lines)):
        tok = m.group()
        if tok == "{":
            depth += 1
            if block_start and depth == 1:
                current = ""
            block_start = False
        elif tok == "}":
            depth -= 1
            if depth == 0:
                current = None
        elif tok in ("layer", "layers") and depth == 0:
            block_start = True
        elif m.group(1) and depth == 1 and current == "":
            current = m.group(1)[1:-1]
    return current or None


def parse_text(text: str, path=None, cls=NetParameter, what="prototxt"):
    """Parse text format strictly; errors name the line and, for nets, the layer."""
    msg = cls()
    try:
        text_format.Parse(text, msg)
    except text_format.ParseError as exc:
        line = exc.GetLine() if hasattr(exc, "GetLine") else None
        column = exc.GetColumn() if hasattr(exc, "GetColumn") else 0
        layer = layer_at_line(text, line, column or 0) if line else None
        unknown = _NO_FIELD.search(str(exc))
        if unknown:
            raise CaffeFormatError(_unknown_field_text(unknown, line, cls), file=path,
                                   layer=layer) from None
        raise CaffeFormatError(f"invalid {what}: {exc}", file=path, layer=layer) from None
    return msg


_NO_FIELD = re.compile(r'Message type "(?:[\w.]*\.)?(\w+)" has no field named "(\w+)"')


def _unknown_field_text(match, line, cls) -> str:
    """One line for a field the schema lacks: its name, message, line and the remedy."""
    from .schema import schema_of
    schema = schema_of(cls)
    message, field = match.groups()
    where = f" (line {line})" if line else ""
    return f"unknown field '{field}' in {message}{where}: not in {schema.label}; {schema.remedy}"


def read_text(path) -> str:
    """Decode a prototxt file; binary content is refused with a hint."""
    data = read_bytes(path, MAX_TEXT_BYTES, "prototxt")
    if not data.strip():
        raise CaffeFormatError("the file is empty; expected a text prototxt", file=path)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise CaffeFormatError("this is a binary file, not a text prototxt (a .caffemodel? "
                               "pass it as the model, not as --prototxt)", file=path) from None
