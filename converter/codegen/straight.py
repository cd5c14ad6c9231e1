"""The straight-line ``Net``: one submodule per Caffe layer, one statement per layer.

Used for every net that is not a recognised ResNet, and for the stem and head of those that
are. Submodules are named after the Caffe layers (``self.conv1``, ``self.bn_conv1``, ...),
variables after the Caffe blobs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Sequence

from .layer_text import with_comment
from .names import RESERVED, Namer, Variables
from .ops import Op, Program

#: Op kinds whose output is a new tensor whose backward does not need that output, so a
#: ReLU may overwrite it (nn.ReLU(inplace=True)) when nothing else reads it.
FRESH = {"conv", "linear", "bn", "add", "pool", "scale"}


@dataclass
class Body:
    """Generated ``__init__`` and ``forward`` lines and the state_dict they imply."""
    init: List[str] = field(default_factory=list)
    forward: List[str] = field(default_factory=list)
    tensors: Dict[str, object] = field(default_factory=dict)
    helpers: List[str] = field(default_factory=list)
    shared_relu: bool = False


def inplace_relus(program: Program) -> set:
    """Names of the ReLU ops that may run in place: their input is a fresh value (see
    FRESH) read by nothing else and not returned."""
    producer, consumers = program.producer(), program.consumers()
    outputs = set(program.outputs)
    safe = set()
    for op in program.ops:
        if op.kind != "relu":
            continue
        src = op.inputs[0]
        made = producer.get(src)
        if made is not None and made.kind in FRESH and len(consumers.get(src, [])) == 1 \
                and src not in outputs:
            safe.add(op.name)
    return safe


def last_uses(program: Program) -> Dict[str, int]:
    """SSA value -> index of the last op reading it (outputs: past the end)."""
    last = {}
    for i, op in enumerate(program.ops):
        for v in op.inputs:
            last[v] = i
    for v in program.outputs:
        last[v] = len(program.ops)
    return last


def emit_ops(ops: Sequence[Op], body: Body, attrs: Namer, variables: Variables,
             safe_relus: set, first_step: int = 0, indent: str = "        ") -> None:
    """Append ``ops``' constructor and forward lines to ``body``."""
    for step, op in enumerate(ops, first_step):
        args = [variables.var_of[v] for v in op.inputs]
        if op.kind == "split" or (op.alias and op.call == "{0}" and op.module is None):
            for out in op.outputs:
                variables.bind(out, step, out.split("#")[0], alias_of=op.inputs[0])
            continue
        if op.kind == "relu":
            if op.name in safe_relus:
                body.shared_relu = True
                expr = f"self.relu({args[0]})"
            else:
                expr = f"torch.relu({args[0]})"
        else:
            module = None
            if op.module is not None:
                attr = attrs(op.name)
                module = f"self.{attr}"
                comment = f"Caffe {op.facts['caffe']}" if "caffe" in op.facts else ""
                body.init += with_comment(f"{indent}self.{attr} = {op.module}", comment)
                for suffix, value in op.tensors.items():
                    body.tensors[f"{attr}.{suffix}"] = value
            expr = op.call.format(*args, m=module)
        body.helpers.extend(op.helpers)
        outs = [variables.bind(o, step, o.split("#")[0]) for o in op.outputs]
        body.forward.append(f"{indent}{', '.join(outs)} = {expr}")


def straight_body(program: Program) -> Body:
    """``Net``'s body for ``program`` as straight-line code."""
    body = Body()
    attrs = Namer(RESERVED)
    variables = Variables(last_uses(program))
    args = []
    for name in program.inputs:
        args.append(variables.bind(name, -1, name))
    emit_ops(program.ops, body, attrs, variables, inplace_relus(program))
    if body.shared_relu:
        body.init.insert(0, "        self.relu = nn.ReLU(inplace=True)")
    results = [variables.var_of[o] for o in program.outputs]
    body.forward.append("        return " + ", ".join(results))
    body.forward.insert(0, f"    def forward(self, {', '.join(args)}):")
    return body
