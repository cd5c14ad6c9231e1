"""Finding a ResNet in a program: stem, residual blocks grouped into stages, head.

The matcher is structural, so it works on any loaded caffemodel, whoever made it: each
Eltwise SUM of two values closes a block whose two branches start at the previous block's
output (the trunk). A branch is a chain of ops; the block's residual branch must be
convolution units (conv, BatchNorm, ReLU) that every block shares up to channel counts and
the stride, the shortcut an identity, a projection (conv + BatchNorm) or the paper's
option A (a frozen all-ones subsampling convolution plus zero channels), and pre-activation
blocks start with BatchNorm + ReLU. Kaiming's ImageNet nets, the CIFAR 6n+2 nets and the
pre-activation nets all match; anything else returns None and is generated straight-line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import numpy as np

from .ops import Op, Program


@dataclass
class Unit:
    """One convolution of a residual branch with what follows it."""
    conv: Op
    bn: Optional[Op] = None
    relu: Optional[Op] = None


@dataclass
class Block:
    """One residual block as found in the program."""
    ops: List[Op]
    pre: List[Op]                 # pre-activation BatchNorm, ReLU (or empty)
    units: List[Unit]
    short_kind: str               # identity | projection | zeropad
    short_ops: List[Op]
    short_from_act: bool          # the shortcut reads the pre-activated input
    post_relu: Optional[Op]
    in_c: int = 0
    out_c: int = 0
    planes: int = 0
    stride: int = 1


@dataclass
class Match:
    """A ResNet: ``stem`` ops, ``stages`` of blocks, ``head`` ops, the shared template."""
    stem: List[Op]
    stages: List[List[Block]]
    head: List[Op]
    template: Block
    expansion: int
    stride_unit: int
    shortcut_rule: str            # "changes" (where the shape changes) or "always"
    preact_optional: bool = False
    facts: Dict[str, object] = field(default_factory=dict)


def _chain(value: str, produced: Dict[str, Op], stop: str) -> Optional[List[Op]]:
    """Ops from ``stop`` to ``value`` following first inputs; the zero-channel ops of an
    option-A Concat ride along. None if the walk leaves the block elsewhere."""
    ops: List[Op] = []
    while value != stop:
        op = produced.get(value)
        if op is None:
            return None
        ops.append(op)
        if op.layer_type == "Concat":
            for extra in op.inputs[1:]:
                zero = produced.get(extra)
                if zero is None or zero.facts.get("constant") != 0.0 \
                        or zero.inputs[0] != op.inputs[0]:
                    return None
                if zero not in ops:
                    ops.append(zero)
        elif len(set(op.inputs)) != 1:
            return None
        value = op.inputs[0]
    return ops[::-1]


def _units(ops: List[Op]) -> Optional[List[Unit]]:
    units: List[Unit] = []
    for op in ops:
        if op.kind == "conv":
            units.append(Unit(op))
        elif op.kind == "bn" and units and units[-1].bn is None and units[-1].relu is None:
            units[-1].bn = op
        elif op.kind == "relu" and units and units[-1].relu is None:
            units[-1].relu = op
        else:
            return None
    return units or None


def _shortcut(ops: List[Op]) -> Optional[str]:
    kinds = [op.kind for op in ops]
    if not ops:
        return "identity"
    if kinds in (["conv"], ["conv", "bn"]):
        return "projection"
    convs = [op for op in ops if op.kind == "conv"]
    if ops[-1].layer_type != "Concat" or len(convs) > 1:
        return None
    if convs:
        c, f = convs[0], convs[0].facts
        ones = np.all(np.asarray(c.tensors["weight"]) == 1.0)
        if not (ones and not f["bias"] and f["kernel"] == (1, 1) and f["pad"] == (0, 0)
                and f["groups"] == f["cin"] == f["cout"] and f["dilation"] == (1, 1)):
            return None
    return "zeropad" if len(ops) == len(convs) + 1 + len(ops[-1].inputs) - 1 else None


def _block(segment: List[Op], add: Op, trunk: str, post: Optional[Op]) -> Optional[Block]:
    """The block computing ``add`` from ``trunk`` out of ``segment`` (its ops), or None."""
    produced = {o: op for op in segment for o in op.outputs}
    chains = [_chain(v, produced, trunk) for v in add.inputs]
    if any(c is None for c in chains):
        return None
    main_i = 0 if len(chains[0]) > len(chains[1]) else 1
    main, short = chains[main_i], chains[1 - main_i]
    pre: List[Op] = []
    if len(main) >= 2 and main[0].kind == "bn" and main[1].kind == "relu":
        pre, main = main[:2], main[2:]
    from_act = bool(pre) and short[:2] == pre
    if from_act:
        short = short[2:]
    kind = _shortcut(short)
    units = _units(main)
    if kind is None or units is None or any(op in main or op in pre for op in short):
        return None
    if len(pre) + len(main) + len(short) + 1 + (post is not None) != len(segment):
        return None
    return Block(segment, pre, units, kind, short, from_act, post)


def _post_relu(ops: List[Op], i: int, consumers) -> Optional[Op]:
    if i + 1 < len(ops) and ops[i + 1].kind == "relu" and \
            ops[i + 1].inputs[0] == ops[i].outputs[0] and \
            len(consumers.get(ops[i].outputs[0], ())) == 1:
        return ops[i + 1]
    return None


def find_blocks(program: Program) -> Optional[Tuple[List[Op], List[Block], List[Op]]]:
    """(stem ops, blocks, head ops), or None."""
    ops, consumers = program.ops, program.consumers()
    adds = [i for i, op in enumerate(ops) if op.kind == "add"]
    if len(adds) < 2 or any(op.kind == "split" for op in ops):
        return None
    blocks: List[Block] = []
    start, trunk, stem = 0, None, []
    for i in adds:
        post = _post_relu(ops, i, consumers)
        end = i + (2 if post else 1)
        if trunk is None:  # the first block starts where its two branches meet
            for cut in range(i - 1, -1, -1):
                block = _block(ops[cut:end], ops[i], ops[cut - 1].outputs[0], post) \
                    if cut > 0 else None
                if block is not None:
                    stem, start = ops[:cut], cut
                    break
            else:
                return None
        else:
            block = _block(ops[start:end], ops[i], trunk, post)
            if block is None:
                return None
        blocks.append(block)
        trunk, start = ops[end - 1].outputs[0], end
    return stem, blocks, ops[start:]


def _unit_signature(u: Unit) -> tuple:
    f = u.conv.facts
    bn = None if u.bn is None else (u.bn.facts["eps"], u.bn.facts["affine"],
                                    u.bn.facts["global_stats"], u.bn.facts["ndim"])
    return (f["kernel"], f["pad"], f["dilation"], f["groups"] == 1, f["bias"], bn,
            u.relu is not None)


def _signature(block: Block) -> tuple:
    pre = tuple((op.kind, op.facts.get("eps"), op.facts.get("affine")) for op in block.pre)
    return (tuple(_unit_signature(u) for u in block.units), block.post_relu is not None, pre)


def reads_activation(block: Block) -> bool:
    """True if the shortcut module reads the pre-activated input (the same as the raw input
    in a block without pre-activation)."""
    return block.short_from_act or not block.pre


def _short_signature(block: Block) -> tuple:
    if block.short_kind != "projection":
        return (block.short_kind, reads_activation(block))
    conv = block.short_ops[0].facts
    bn = block.short_ops[1].facts if len(block.short_ops) > 1 else None
    return ("projection", reads_activation(block), conv["kernel"], conv["pad"], conv["bias"],
            conv["groups"], None if bn is None else (bn["eps"], bn["affine"],
                                                     bn["global_stats"]))


def _geometry(block: Block) -> Optional[int]:
    """Fill channels and stride; return the index of the strided unit (-1: none), or None
    if the block is not a plain residual block."""
    convs = [u.conv.facts for u in block.units]
    block.in_c, block.planes, block.out_c = convs[0]["cin"], convs[0]["cout"], convs[-1]["cout"]
    for j, f in enumerate(convs):
        want_out = block.out_c if j == len(convs) - 1 else block.planes
        if f["cout"] != want_out or (j and f["cin"] != convs[j - 1]["cout"]):
            return None
    strided = [j for j, f in enumerate(convs) if f["stride"] != (1, 1)]
    if len(strided) > 1 or (strided and convs[strided[0]]["stride"][0]
                            != convs[strided[0]]["stride"][1]):
        return None
    block.stride = convs[strided[0]]["stride"][0] if strided else 1
    if block.short_kind == "projection":
        f = block.short_ops[0].facts
        if f["stride"] != (block.stride,) * 2 or (f["cin"], f["cout"]) != (block.in_c,
                                                                           block.out_c):
            return None
    if block.short_kind == "zeropad":
        convs_a = [op.facts for op in block.short_ops if op.kind == "conv"]
        s = convs_a[0]["stride"] if convs_a else (1, 1)
        copies = len(block.short_ops[-1].inputs)
        if s != (block.stride,) * 2 or block.out_c != block.in_c * copies:
            return None
    if block.short_kind == "identity" and (block.in_c != block.out_c or block.stride != 1
                                           or block.short_from_act):
        return None
    return strided[0] if strided else -1


def _shortcut_rule(blocks: List[Block]) -> Optional[str]:
    modules = [b.short_kind != "identity" for b in blocks]
    if all(modules):
        return "always"
    changes = [b.stride != 1 or b.in_c != b.out_c for b in blocks]
    return "changes" if modules == changes else None


def _stages(blocks: List[Block]) -> List[List[Block]]:
    stages: List[List[Block]] = []
    for b in blocks:
        if not stages or b.stride != 1 or b.planes != stages[-1][0].planes:
            stages.append([])
        stages[-1].append(b)
    return stages


def _is_chain(ops: List[Op], start: str) -> bool:
    value = start
    for op in ops:
        if op.kind in ("split", "add") or len(op.outputs) != 1 or set(op.inputs) != {value}:
            return False
        value = op.outputs[0]
    return True


def match_resnet(program: Program) -> Optional[Match]:
    """The program as a ResNet (see the module docstring), or None."""
    if len(program.inputs) != 1 or len(program.outputs) != 1:
        return None
    found = find_blocks(program)
    if found is None:
        return None
    stem, blocks, head = found
    positions = {_geometry(b) for b in blocks}
    if None in positions or len(positions - {-1}) > 1:
        return None
    expansions = {divmod(b.out_c, b.planes) for b in blocks}
    template = blocks[-1] if blocks[0].pre == [] and blocks[-1].pre else blocks[0]
    preact_optional = bool(template.pre) and not blocks[0].pre
    rest = blocks[1:] if preact_optional else blocks
    shorts = {_short_signature(b) for b in blocks if b.short_kind != "identity"}
    rule = _shortcut_rule(blocks)
    if (len({_signature(b) for b in rest}) != 1 or len(shorts) > 1 or rule is None
            or len(expansions) != 1 or next(iter(expansions))[1] or len(template.units) < 2):
        return None
    if preact_optional and _signature(blocks[0])[:2] != _signature(template)[:2]:
        return None
    last = blocks[-1].ops[-1].outputs[0]
    if not _is_chain(stem, program.inputs[0]) or not _is_chain(head, last) or \
            program.outputs != [head[-1].outputs[0] if head else last]:
        return None
    return Match(stem, _stages(blocks), head, template, next(iter(expansions))[0],
                 max(positions), rule, preact_optional)
