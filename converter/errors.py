"""One exception hierarchy for the whole project.

Every error a user can cause (bad file, unknown layer, mismatched prototxt and weights, bad
arguments) is a :class:`ConverterError`. The CLIs catch it once and print one line::

    resnet-convert: error: <file>: layer 'name' (Type): <what is wrong and what to do>
"""

from __future__ import annotations


class ConverterError(Exception):
    """Base class of every error the project reports to users.

    ``file``, ``layer`` and ``layer_type`` are optional context; :meth:`__str__` joins them
    into the single line the CLI prints.
    """

    def __init__(self, message: str, *, file: str | None = None,
                 layer: str | None = None, layer_type: str | None = None):
        super().__init__(message)
        self.message = message
        self.file = None if file is None else str(file)
        self.layer = layer
        self.layer_type = layer_type

    def with_context(self, *, file=None, layer=None, layer_type=None) -> "ConverterError":
        """Fill in context that is not set yet and return ``self`` (for re-raising)."""
        if self.file is None and file is not None:
            self.file = str(file)
        if self.layer is None and layer is not None:
            self.layer = layer
        if self.layer_type is None and layer_type is not None:
            self.layer_type = layer_type
        return self

    def __str__(self) -> str:
        parts = []
        if self.file:
            parts.append(self.file)
        if self.layer is not None:
            kind = f" ({self.layer_type})" if self.layer_type else ""
            parts.append(f"layer '{self.layer}'{kind}")
        parts.append(self.message)
        return ": ".join(parts)


class UsageError(ConverterError):
    """Bad command-line arguments or API arguments (e.g. an unsupported depth)."""


class GraphError(ConverterError):
    """A structurally invalid net: undefined bottom, duplicate name, cycle."""


class ShapeError(ConverterError):
    """Shapes that Caffe would reject (e.g. a kernel larger than its padded input)."""


class UnsupportedLayerError(ConverterError):
    """Layer types (or layer options) this project cannot convert exactly."""


class CaffeFormatError(ConverterError):
    """A file that is not a valid Caffe prototxt / caffemodel / binaryproto."""


class MismatchError(ConverterError):
    """Prototxt and weights that do not belong together (missing layer, wrong blob shape)."""


class NonFiniteError(ConverterError):
    """NaN or Inf in the weights (refused unless the user allows it)."""
