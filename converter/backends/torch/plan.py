"""The memory plan: which steps may compute in a bottom's memory, and the compiled steps.

Built in one place, :func:`compile_plan`, from the facts each module declares
(``CaffeModule.reusable``, ``fresh``, ``post_op``; see ``module.py``). A step may reuse
bottom k (one of its module's ``reusable`` bottoms) when that value is fresh (made by a
module whose output never shares memory with a value still in use), read by this step alone
and only once, and neither a net input nor a value the call returns: the requested outputs
for ``forward``, every Caffe blob's final value for ``forward_all``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Sequence, Set, Tuple

from .fusion import Step, compile_steps

PlanStep = Tuple[str, Tuple[str, ...], Tuple[str, ...]]


@dataclass(frozen=True)
class CompiledPlan:
    """The steps ``forward`` and ``forward_all`` run, and the reuse decisions behind them
    (plan step -> index of the bottom whose memory it may reuse)."""
    steps: List[Step]
    steps_all: List[Step]
    reuse: Dict[int, int]
    reuse_all: Dict[int, int]


def _readers_and_makers(plan: Sequence[PlanStep], modules):
    consumers: Dict[str, List[int]] = {}
    producer: Dict[str, Tuple[object, int]] = {}
    for i, (name, bottoms, tops) in enumerate(plan):
        for b in bottoms:
            consumers.setdefault(b, []).append(i)
        for t in tops:
            producer[t] = (modules[name], len(bottoms))
    return consumers, producer


def _reuse(plan, modules, dead: Set[str]) -> Dict[int, int]:
    """Step -> the first of its module's reusable bottoms that is dead after it."""
    target: Dict[int, int] = {}
    for i, (name, bottoms, _) in enumerate(plan):
        k = next((k for k in modules[name].reusable
                  if k < len(bottoms) and bottoms[k] in dead), None)
        if k is not None:
            target[i] = k
    return target


def compile_plan(plan: Sequence[PlanStep], modules, inputs: Sequence[str],
                 returned: Set[str], every: Set[str], *, fuse: bool = True,
                 reuse_memory: bool = True) -> CompiledPlan:
    """Compile ``plan`` twice: for ``forward`` (values in ``returned`` are kept) and for
    ``forward_all`` (values in ``every`` are). Net inputs are never reused."""
    consumers, producer = _readers_and_makers(plan, modules)
    fresh = {v for v, (module, n) in producer.items() if module.fresh(n)} \
        if reuse_memory else set()
    compiled = []
    for exposed in (set(returned) | set(inputs), set(every) | set(inputs)):
        dead = {v for v in fresh if len(consumers.get(v, ())) == 1 and v not in exposed}
        reuse = _reuse(plan, modules, dead)
        steps = compile_steps(plan, modules, reuse, exposed, fresh, consumers, fuse)
        compiled.append((steps, reuse))
    (steps, reuse), (steps_all, reuse_all) = compiled
    return CompiledPlan(steps, steps_all, reuse, reuse_all)
