"""Python identifiers for Caffe names, and variables that never clobber a live value."""

from __future__ import annotations

import builtins
import keyword
import re
from typing import Dict, Iterable, List, Optional, Set

from .helpers import HELPERS

#: Names a submodule attribute must not take (nn.Module's own, and the generated Net's).
RESERVED = {"forward", "load", "train", "eval", "training", "state_dict", "relu", "inplanes",
            "caffe_inputs", "caffe_outputs", "mean_image", "to", "cpu", "cuda", "float",
            "double", "half", "type", "apply", "modules", "children", "parameters",
            "buffers", "zero_grad", "requires_grad_", "share_memory", "extra_repr",
            "register_buffer", "register_parameter", "add_module", "get_submodule"}
#: Names a forward variable must not take (a blob named like a generated helper would
#: shadow it).
TAKEN_VARS = ({"self", "torch", "nn", "F", "x", "identity", "out", "FLT_MAX", "PREPROCESS"}
              | set(HELPERS) | set(dir(builtins)))


def identifier(name: str) -> str:
    """``name`` as a Python identifier: non-word characters become ``_``; a leading digit
    or a keyword gets a prefix / suffix."""
    ident = re.sub(r"\W", "_", name) or "layer"
    if ident[0].isdigit():
        ident = f"l{ident}"
    if keyword.iskeyword(ident) or keyword.issoftkeyword(ident):
        ident += "_"
    return ident


class Namer:
    """Unique identifiers from names, avoiding ``reserved``."""

    def __init__(self, reserved: Iterable[str] = ()):
        self.taken: Set[str] = set(reserved)

    def __call__(self, name: str) -> str:
        base = identifier(name)
        if base in self.taken:
            base += "_"
        candidate, k = base, 2
        while candidate in self.taken:
            candidate, k = f"{base}{k}", k + 1
        self.taken.add(candidate)
        return candidate


class Variables:
    """Forward-pass variables for SSA values, named after their Caffe blobs.

    An in-place Caffe chain (conv -> BatchNorm -> ReLU on one blob) rebinds one variable, as
    a person would write it. A new value gets a fresh name only when its Caffe name's
    variable still holds a value that a later statement reads.
    """

    def __init__(self, last_use: Dict[str, int], reserved: Iterable[str] = ()):
        self.last_use = last_use
        self.var_of: Dict[str, str] = {}
        self.holds: Dict[str, List[str]] = {}
        self.used: Set[str] = set(TAKEN_VARS) | set(reserved)
        self.caffe_var: Dict[str, str] = {}

    def bind(self, ssa: str, step: int, caffe: str, alias_of: Optional[str] = None) -> str:
        """The variable for SSA value ``ssa`` written at ``step`` (``alias_of``: the same
        tensor as that value, no statement needed)."""
        if alias_of is not None:
            var = self.var_of[alias_of]
        else:
            var = self.caffe_var.get(caffe)
            if var is None or any(self.last_use.get(v, -1) > step for v in self.holds[var]):
                var = self._fresh(caffe)
                self.caffe_var.setdefault(caffe, var)
            self.holds[var] = []
        self.var_of[ssa] = var
        self.holds.setdefault(var, []).append(ssa)
        return var

    def _fresh(self, caffe: str) -> str:
        base = identifier(caffe)
        candidate, k = base, 2
        while candidate in self.used or keyword.iskeyword(candidate):
            candidate, k = f"{base}_{k}", k + 1
        self.used.add(candidate)
        self.holds[candidate] = []
        return candidate
