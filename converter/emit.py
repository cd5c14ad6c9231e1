"""Write IR nets (and solvers) as Caffe prototxt through the jinja2 templates in
``converter.templates`` (the top-level ``templates/`` folder; shipped inside the wheel).

Templates have one macro per layer type and run under ``StrictUndefined``, so a template
that reads a parameter the IR lacks fails loudly instead of writing an empty field.
"""

from __future__ import annotations

import dataclasses
import math
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Dict, Iterable, Sequence, Tuple

import jinja2

from .errors import UnsupportedLayerError
from .ir import Net
from .layers.fields import changed, is_default

TEMPLATE_PACKAGE = "converter.templates"

__all__ = ["emit_prototxt", "emit_solver", "Enum", "environment", "quote", "number"]


def quote(text: str) -> str:
    """A protobuf text-format string literal."""
    escaped = (str(text).replace("\\", "\\\\").replace('"', '\\"')
               .replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t"))
    return f'"{escaped}"'


def number(value) -> str:
    """Shortest exact text for a number: integral floats as ints (``0``, not ``0.0``)."""
    if isinstance(value, bool):
        raise TypeError("booleans are written with the |b filter")
    if isinstance(value, int):
        return str(value)
    value = float(value)
    if not math.isfinite(value):
        return "inf" if value > 0 else ("-inf" if value < 0 else "nan")
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def _boolean(value) -> str:
    return "true" if value else "false"


#: The top-level templates/ folder of a source checkout. Installed, it is the package
#: ``converter.templates``; but when the package is imported from a checkout (e.g. tests run
#: from the repository root beside a non-editable install), that subpackage does not exist.
SOURCE_TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


def _load(name: str) -> str:
    try:
        folder = resources.files(TEMPLATE_PACKAGE)
    except ModuleNotFoundError:
        folder = SOURCE_TEMPLATES
    return folder.joinpath(name).read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """The shared jinja2 environment (templates read with importlib.resources)."""
    env = jinja2.Environment(loader=jinja2.FunctionLoader(_load),
                             undefined=jinja2.StrictUndefined, autoescape=False,
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters.update(q=quote, num=number, b=_boolean, is_default=is_default,
                       changed=changed)
    return env


def _macro_names(net: Net) -> Dict[str, str]:
    """Layer type -> macro; parameterless types without their own macro use ``plain``."""
    module = environment().get_template("layers.j2").module
    names = {}
    for layer in net.layers:
        if layer.type in names:
            continue
        if layer.type[:1].isupper() and hasattr(module, layer.type):
            names[layer.type] = layer.type
        elif layer.params is None:
            names[layer.type] = "plain"
        else:
            raise UnsupportedLayerError("no prototxt template for this layer type",
                                        layer=layer.name, layer_type=layer.type)
    return names


def _tidy(text: str) -> str:
    """Drop the blank lines macros leave behind; separate layers by one blank line
    (Kaiming's layout)."""
    out = []
    for line in text.splitlines():
        if not line.strip():
            continue
        if line == "layer {":
            out.append("")
        out.append(line.rstrip())
    return "\n".join(out) + "\n"


def emit_prototxt(net: Net) -> str:
    """Render ``net`` as Caffe prototxt text (a NetParameter in protobuf text format)."""
    macros = _macro_names(net)
    text = environment().get_template("net.j2").render(
        net=net, macro_of=lambda layer: macros[layer.type])
    return _tidy(text)


def emit_solver(fields: Sequence[Tuple[str, object]], comments: Iterable[str] = ()) -> str:
    """Render a SolverParameter from ordered ``(field, value)`` pairs.

    Strings are quoted, booleans written as true/false, numbers exactly; a value of the
    :class:`Enum` wrapper type (any object with ``enum_name``) is written bare.
    """
    rendered = []
    for field, value in fields:
        if hasattr(value, "enum_name"):
            text = value.enum_name
        elif isinstance(value, bool):
            text = _boolean(value)
        elif isinstance(value, str):
            text = quote(value)
        else:
            text = number(value)
        rendered.append((field, text))
    return environment().get_template("solver.j2").render(fields=rendered,
                                                           comments=list(comments))


@dataclasses.dataclass(frozen=True)
class Enum:
    """A bare enum value in a solver (e.g. ``solver_mode: GPU``)."""
    enum_name: str
