"""The paper's training schedules as Caffe SolverParameter fields (He et al. 2015).

The batch size lives in the train net's Data layer (128 CIFAR, 256 ImageNet), not here.
"""

from __future__ import annotations

from typing import Dict, List, Sequence, Tuple

from ..emit import Enum

Fields = List[Tuple[str, object]]

_COMMON_TAIL = (("momentum", 0.9), ("weight_decay", 0.0001))


def cifar_schedule(net_path: str, prefix: str, n: int = 3) -> Tuple[Fields, List[str]]:
    """Section 4.2: lr 0.1, /10 at 32k and 48k iterations, stop at 64k, batch 128."""
    comments = ["CIFAR-10 schedule of He et al. 2015, section 4.2: batch 128 (set in the "
                "net's Data layer), lr 0.1 divided by 10 at 32k and 48k iterations, 64k total."]
    if n >= 18:
        comments.append("For 110 layers the paper warms up at lr 0.01 until training error is "
                        "below 80% (about 400 iterations), then returns to 0.1; Caffe's "
                        "multistep policy cannot raise the rate, so run those iterations with "
                        "base_lr 0.01 first and resume with this file.")
    fields: Fields = [
        ("net", net_path),
        ("test_iter", 100),          # 10000 test images / test batch 100
        ("test_interval", 1000),
        ("base_lr", 0.1),
        ("lr_policy", "multistep"),
        ("gamma", 0.1),
        ("stepvalue", 32000),
        ("stepvalue", 48000),
        ("max_iter", 64000),
        *_COMMON_TAIL,
        ("display", 100),
        ("snapshot", 10000),
        ("snapshot_prefix", prefix),
        ("solver_mode", Enum("GPU")),
    ]
    return fields, comments


def imagenet_schedule(net_path: str, prefix: str) -> Tuple[Fields, List[str]]:
    """Section 3.4: batch 256, lr 0.1 /10 on plateaus, up to 60e4 iterations."""
    comments = [
        "ImageNet schedule of He et al. 2015, section 3.4: batch 256 (set in the net's Data "
        "layer), lr 0.1, weight decay 1e-4, momentum 0.9, up to 60e4 iterations.",
        "The paper divides the rate by 10 when the error plateaus. Caffe has no plateau "
        "policy, so this uses a fixed step every 150000 iterations (30 epochs of batch 256), "
        "where those plateaus typically fall; shorten stepsize if validation error stalls "
        "earlier.",
    ]
    fields: Fields = [
        ("net", net_path),
        ("test_iter", 1000),         # 50000 validation images / test batch 50
        ("test_interval", 5000),     # about one epoch
        ("base_lr", 0.1),
        ("lr_policy", "step"),
        ("gamma", 0.1),
        ("stepsize", 150000),
        ("max_iter", 600000),
        *_COMMON_TAIL,
        ("display", 20),
        ("snapshot", 10000),
        ("snapshot_prefix", prefix),
        ("solver_mode", Enum("GPU")),
    ]
    return fields, comments


def with_changes(fields: Fields, changes: Dict[str, object]) -> Fields:
    """``fields`` with each named field replaced (in place of its first occurrence; a
    sequence value is a repeated field such as ``stepvalue``), new fields appended.

    A schedule shortened for a small data set keeps the paper's solver type, momentum and
    weight decay and changes only what is given here.
    """
    out: Fields = []
    for name, value in fields:
        if name not in changes:
            out.append((name, value))
        elif not any(n == name for n, _ in out):
            out.extend(_expand(name, changes[name]))
    for name, value in changes.items():
        if not any(n == name for n, _ in fields):
            out.extend(_expand(name, value))
    return out


def _expand(name: str, value: object) -> Fields:
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [(name, v) for v in value]
    return [(name, value)]
