"""Names the converter makes up, kept apart from every name a user can write.

Caffe accepts any UTF-8 text as a layer or blob name (quotes, dots, slashes, newlines, ``#``,
Python keywords...). Two kinds of derived names must therefore be made with care:

* SSA names for in-place writes (``Net.ssa``): a made-up name must never equal a blob name
  of the net, or two values would share one name and a back end would read the wrong one.
* Names in the output formats (torch submodules, ONNX outputs): each format restricts its
  names, so Caffe names are mapped to safe identifiers, one-to-one within a net.
"""

from __future__ import annotations

import keyword
import re
from typing import AbstractSet, Iterable, MutableSet

#: Marks an in-place write's version in an SSA name (``blob#1``); uniqueness does not rest
#: on it: :class:`FreshNames` skips every name the net already uses.
SSA_MARK = "#"

_UNSAFE = re.compile(r"[^A-Za-z0-9_/]")


class FreshNames:
    """Made-up names that collide with no name in ``used`` nor with each other."""

    def __init__(self, used: Iterable[str]):
        self.used = set(used)

    def version(self, base: str, k: int) -> str:
        """The first ``base#k``, ``base#k+1``... not used yet (then marked used)."""
        candidate = f"{base}{SSA_MARK}{k}"
        while candidate in self.used:
            k += 1
            candidate = f"{base}{SSA_MARK}{k}"
        self.used.add(candidate)
        return candidate


def safe_identifier(name: str, taken: MutableSet[str],
                    reserved: AbstractSet[str] = frozenset()) -> str:
    """A submodule-style name for ``name``, different from every name in ``taken`` (to which
    it is added) and from ``reserved``; ``name`` itself when it is already safe.

    Safe means ASCII letters, digits, ``_`` and ``/`` (Caffe's usual separator, as in
    ``inception_3a/1x1``): every other character becomes ``_``; an empty name becomes
    ``layer``; a Python keyword or a ``reserved`` name gets a trailing ``_``; a clash gets
    ``_1``, ``_2``... Distinct names thus map to distinct results (one ``taken`` per net).
    """
    base = _UNSAFE.sub("_", name) or "layer"
    if keyword.iskeyword(base) or base in reserved:
        base = f"{base}_"
    candidate, k = base, 1
    while candidate in taken or candidate in reserved:
        candidate, k = f"{base}_{k}", k + 1
    taken.add(candidate)
    return candidate


def distinct(labels: Iterable[str], taken: AbstractSet[str] = frozenset()) -> list:
    """``labels`` in order, each later repeat (or one in ``taken``) given a ``_k`` suffix that
    makes it differ from every other: for formats that flatten names (ONNX outputs)."""
    used, out = set(taken), []
    for label in labels:
        candidate, k = label, 1
        while candidate in used:
            candidate, k = f"{label}_{k}", k + 1
        used.add(candidate)
        out.append(candidate)
    return out
