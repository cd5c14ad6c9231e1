"""The text of a recognised ResNet, torchvision style: ``conv3x3``/``conv1x1``, a block class
(``BasicBlock``, ``Bottleneck``, their pre-activation forms), a depth table and
``self.layer1 = self._make_layer(...)``; the stem and the head stay named after Caffe's layers.
"""

from __future__ import annotations

import textwrap
from typing import Dict, List, Optional, Sequence, Tuple

from .layer_text import bn_options, pair, with_comment
from .names import RESERVED, TAKEN_VARS, Namer, identifier
from .ops import Op
from .resnet import Block, Match, reads_activation
from .source import assemble, net_class
from .straight import inplace_relus

CONV_HELPERS = {
    (1, 0): '''def conv1x1(in_planes, out_planes, stride=1):
    """1x1 convolution without bias, as in the Caffe net."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)''',
    (3, 1): '''def conv3x3(in_planes, out_planes, stride=1):
    """3x3 convolution with padding 1 and without bias, as in the Caffe net."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1,
                     bias=False)''',
}


def conv_text(facts: dict, cin: str, cout: str, stride: Optional[str], used: set) -> str:
    """A convolution with symbolic channels: ``conv3x3``/``conv1x1`` where they fit."""
    k, p = facts["kernel"], facts["pad"]
    plain = (facts["dilation"] == (1, 1) and facts["groups"] == 1 and not facts["bias"]
             and k[0] == k[1] and p[0] == p[1])
    if plain and (k[0], p[0]) in CONV_HELPERS:
        used.add((k[0], p[0]))
        name = "conv1x1" if k[0] == 1 else "conv3x3"
        return f"{name}({cin}, {cout}" + (f", {stride})" if stride else ")")
    text = f"nn.Conv2d({cin}, {cout}, kernel_size={pair(k)}"
    text += f", stride={stride}" if stride else ""
    text += f", padding={pair(p)}" if p != (0, 0) else ""
    text += f", dilation={pair(facts['dilation'])}" if facts["dilation"] != (1, 1) else ""
    text += f", groups={facts['groups']}" if facts["groups"] != 1 else ""
    return text + (")" if facts["bias"] else ", bias=False)")


def bn_text(op: Op, channels: str) -> str:
    f = op.facts
    return f"nn.BatchNorm2d({channels}{bn_options(f['eps'], f['affine'], f['global_stats'])})"


def _names(t: Block) -> Tuple[Optional[str], List[Optional[str]]]:
    """Attribute names of the template's BatchNorms: the pre-activation one, per unit."""
    count = 0
    pre = None
    if t.pre:
        count, pre = 1, "bn1"
    units = []
    for u in t.units:
        if u.bn is not None:
            count += 1
        units.append(f"bn{count}" if u.bn is not None else None)
    return pre, units


def class_name(m: Match) -> str:
    base = {2: "BasicBlock", 3: "Bottleneck"}.get(len(m.template.units), "Block")
    return ("PreAct" + base.replace("BasicBlock", "Block")) if m.template.pre else base


def _channels(m: Match, j: int) -> Tuple[str, str]:
    last = len(m.template.units) - 1
    out = "planes * self.expansion" if j == last and m.expansion != 1 else "planes"
    return ("inplanes" if j == 0 else "planes"), out


def block_class(m: Match, used: set) -> str:
    t, name = m.template, class_name(m)
    pre_bn, unit_bns = _names(t)
    sig = "self, inplanes, planes, stride=1, downsample=None"
    init = ["        super().__init__()"]
    if t.pre:
        sig += ", preact=True" if m.preact_optional else ""
        text = bn_text(t.pre[0], "inplanes")
        init.append(f"        self.{pre_bn} = {text} if preact else None" if m.preact_optional
                    else f"        self.{pre_bn} = {text}")
    for j, u in enumerate(t.units):
        cin, cout = _channels(m, j)
        stride = "stride" if j == m.stride_unit else None
        conv = conv_text(u.conv.facts, cin, cout, stride, used)
        init.append(f"        self.conv{j + 1} = {conv}")
        if u.bn is not None:
            init.append(f"        self.{unit_bns[j]} = {bn_text(u.bn, cout)}")
    init += ["        self.relu = nn.ReLU(inplace=True)", "        self.downsample = downsample"]
    lines = [f"class {name}(nn.Module):", f'    """{_block_doc(m)}"""', "",
             f"    expansion = {m.expansion}", "", f"    def __init__({sig}):"] + init
    return "\n".join(lines + [""] + _block_forward(m, pre_bn, unit_bns))


def _block_forward(m: Match, pre_bn, unit_bns) -> List[str]:
    t = m.template
    lines = ["    def forward(self, x):", "        identity = x"]
    if t.pre:
        indent = "            " if m.preact_optional else "        "
        if m.preact_optional:
            lines.append(f"        if self.{pre_bn} is not None:")
        lines += [f"{indent}x = self.{pre_bn}(x)", f"{indent}x = self.relu(x)"]
    value = "x"
    for j, u in enumerate(t.units):
        lines.append(f"        out = self.conv{j + 1}({value})")
        value = "out"
        if u.bn is not None:
            lines.append(f"        out = self.{unit_bns[j]}(out)")
        if u.relu is not None:
            lines.append("        out = self.relu(out)")
    if _module_blocks(m):
        source = "x" if _short_from_act(m) else "identity"
        lines += ["        if self.downsample is not None:",
                  f"            identity = self.downsample({source})"]
    # In place only on a BatchNorm / convolution output (their backward does not read it).
    lines.append("        out = out + identity" if t.units[-1].relu is not None
                 else "        out += identity")
    if t.post_relu is not None:
        lines.append("        out = self.relu(out)")
    return lines + ["        return out"]


def _module_blocks(m: Match) -> List[Block]:
    """The blocks whose shortcut is a module (a projection or option A)."""
    return [b for s in m.stages for b in s if b.short_kind != "identity"]


def _short_from_act(m: Match) -> bool:
    blocks = _module_blocks(m)
    return bool(blocks) and reads_activation(blocks[0])


def _block_doc(m: Match) -> str:
    t = m.template
    kernels = ", ".join("x".join(map(str, u.conv.facts["kernel"])) for u in t.units)
    where = {0: "the first", 1: "the second", 2: "the third"}.get(m.stride_unit, "one")
    where = f"{where} convolution carries the stride" if m.stride_unit >= 0 else "no stride"
    bn = "BatchNorm (Caffe's BatchNorm + Scale)"
    order = (f"each after {bn} and ReLU (pre-activation)" if t.pre
             else f"each followed by {bn} and ReLU but the last")
    post = "then ReLU" if t.post_relu is not None else "no ReLU after the sum"
    if m.stride_unit == 0 and len(t.units) == 3:
        where += " (Kaiming He's Caffe layout; torchvision strides the 3x3)"
    text = (f"A residual block as the Caffe net has it: {kernels} convolutions, {order}; "
            f"{where}; the shortcut is added, {post}.")
    return textwrap.fill(text, 92, subsequent_indent="    ") + "\n    "


def _downsample_text(m: Match, used: set, helpers: list) -> Optional[str]:
    blocks = _module_blocks(m)
    if not blocks:
        return None
    b, out = blocks[0], "planes * block.expansion"
    if b.short_kind == "zeropad":
        helpers.append("ZeroPadShortcut")
        return f"ZeroPadShortcut(self.inplanes, {out}, s)"
    parts = [conv_text(b.short_ops[0].facts, "self.inplanes", out, "s", used)]
    if len(b.short_ops) > 1:
        parts.append(bn_text(b.short_ops[1], out))
    inner = "".join(f"                    {part},\n" for part in parts)
    return f"nn.Sequential(\n{inner}                )"


def make_layer(m: Match, used: set, helpers: list) -> str:
    """``Net._make_layer``: one stage of ``blocks`` blocks, the first one strided."""
    first = ", first=False" if m.preact_optional else ""
    lines = [f"    def _make_layer(self, block, planes, blocks, stride=1{first}):",
             "        layers = []", "        for i in range(blocks):",
             "            s = stride if i == 0 else 1"]
    down = _downsample_text(m, used, helpers)
    args = "self.inplanes, planes, s"
    if down is not None:
        cond = ("True" if m.shortcut_rule == "always"
                else "s != 1 or self.inplanes != planes * block.expansion")
        lines += ["            downsample = None", f"            if {cond}:",
                  f"                downsample = {down}"]
        args += ", downsample"
    if m.preact_optional:
        # The first block of the net takes the stem's activation (no pre-activation).
        lines.append("            preact = i > 0 or not first")
        args += ", preact=preact"
    lines += [f"            layers.append(block({args}))",
              "            self.inplanes = planes * block.expansion",
              "        return nn.Sequential(*layers)"]
    return "\n".join(lines)


def _chain_text(ops: Sequence[Op], attrs: Namer, safe: set, tensors: Dict, init: List[str],
                forward: List[str], source: str = "x") -> bool:
    """Stem or head ops as ``x = ...`` lines, the first reading ``source``; True if they
    use the shared ReLU."""
    shared = False
    for op in ops:
        if op.kind == "relu":
            shared |= op.name in safe
            forward.append(f"        x = self.relu({source})" if op.name in safe
                           else f"        x = torch.relu({source})")
            source = "x"
            continue
        module = None
        if op.module is not None:
            attr = attrs(op.name)
            module = f"self.{attr}"
            comment = f"Caffe {op.facts['caffe']}" if "caffe" in op.facts else ""
            init += with_comment(f"        self.{attr} = {op.module}", comment)
            tensors.update({f"{attr}.{k}": v for k, v in op.tensors.items()})
        forward.append(f"        x = {op.call.format(source, m=module)}")
        source = "x"
    return shared


def _block_tensors(m: Match, tensors: Dict) -> None:
    pre_bn, unit_bns = _names(m.template)
    for s, stage in enumerate(m.stages, 1):
        for i, b in enumerate(stage):
            prefix = f"layer{s}.{i}."
            named = [(f"conv{j + 1}", u.conv) for j, u in enumerate(b.units)]
            named += [(unit_bns[j], u.bn) for j, u in enumerate(b.units) if u.bn is not None]
            named += [(pre_bn, b.pre[0])] if b.pre else []
            if b.short_kind == "projection":
                named += [(f"downsample.{k}", op) for k, op in enumerate(b.short_ops)]
            for name, op in named:
                tensors.update({f"{prefix}{name}.{k}": v for k, v in op.tensors.items()})


def _net_doc(program, m: Match, block: str) -> str:
    """The Net docstring: where the stem and the head start and end in Caffe's terms."""
    def span(ops):
        return ops[0].name if len(ops) == 1 else f"{ops[0].name} .. {ops[-1].name}"
    stem = f"a stem (Caffe's {span(m.stem)})" if m.stem else "no stem"
    head = f"a head ({span(m.head)})" if m.head else "no head"
    text = (f"{program.name or 'The Caffe net'}, a ResNet: {stem}, {len(m.stages)} stages "
            f"of {block} blocks (LAYERS), {head}.")
    return textwrap.fill(text, 92, subsequent_indent="    ")


def resnet_source(program, m: Match, doc, facts, caffe_outputs, mean_shape):
    """The file text and the state_dict of a recognised ResNet."""
    used, helpers, tensors = set(), [], {}
    block = block_class(m, used)
    make = make_layer(m, used, helpers)
    attrs = Namer(RESERVED | {f"layer{s}" for s in range(1, len(m.stages) + 1)})
    safe = inplace_relus(program)
    init = [f"        self.inplanes = {m.stages[0][0].in_c}"]
    arg = identifier(program.inputs[0])
    arg = arg if arg not in TAKEN_VARS else "x"
    forward = [f"    def forward(self, {arg}):"]
    shared = _chain_text(m.stem, attrs, safe, tensors, init, forward, source=arg)
    for s, stage in enumerate(m.stages, 1):
        stride = f", stride={stage[0].stride}" if stage[0].stride != 1 else ""
        first = ", first=True" if m.preact_optional and s == 1 else ""
        init.append(f"        self.layer{s} = self._make_layer(block, {stage[0].planes}, "
                    f"layers[{s - 1}]{stride}{first})")
        source = arg if s == 1 and not m.stem else "x"
        forward.append(f"        x = self.layer{s}({source})")
    shared |= _chain_text(m.head, attrs, safe, tensors, init, forward)
    if shared:
        init.insert(1, "        self.relu = nn.ReLU(inplace=True)")
    forward.append("        return x")
    _block_tensors(m, tensors)
    depths = [len(stage) for stage in m.stages]
    table = (f"#: The depth table: blocks per stage.\nLAYERS = {depths!r}")
    name = class_name(m)
    cls = net_class(f"{_net_doc(program, m, name)}", init, forward, [make], program.inputs,
                    caffe_outputs, mean_shape,
                    signature=f"self, block={name}, layers=LAYERS")
    convs = [CONV_HELPERS[k] for k in sorted(used, reverse=True)]
    source = assemble(doc, facts, helpers, convs + [block, table, cls])
    return source, tensors
