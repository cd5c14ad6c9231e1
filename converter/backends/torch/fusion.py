"""The steps a CaffeNet executes: its Caffe plan, with in-place reuse and post-op fusion.

A step is ``(submodule name, bottom SSA names, top SSA names, keyword arguments)``. Most
steps are the plan's own, with ``reuse=k`` where the memory plan (``plan.py``) allowed it.
Two patterns become one convolution step with oneDNN post-ops, which saves whole passes
over the activations (the residual sums and ReLUs of a folded ResNet):

* a Convolution whose output only a ReLU reads: ``relu=True``;
* a Convolution whose output only a two-bottom Eltwise SUM reads, where the sum's other
  bottom is computed before the convolution, is not returned, is fresh memory (see
  ``CaffeModule.fresh``) and is read by no step from the convolution on but the sum: that
  bottom becomes ``other`` and the convolution accumulates into its memory (a ResNet's
  shortcut, once the block's first convolution has read it); a ReLU that alone reads the
  sum joins as ``relu=True``.

No fused-away value may be one the call returns. The arithmetic is the same: ReLU is exact,
and the sum is one float32 addition of the convolution's result (bias included) and the
other bottom, which IEEE addition makes independent of operand order. Moving the sum up to
the convolution's position is safe: the other bottom is computed by then, and nothing in
between can change it (in-place reuse needs a value's only reader, and the sum reads it).
"""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Set, Tuple

Step = Tuple[str, Tuple[str, ...], Tuple[str, ...], dict]


def compile_steps(plan: Sequence, modules: Dict, reuse: Dict[int, int], exposed: Set[str],
                  fresh: Set[str], consumers: Dict[str, List[int]],
                  fuse: bool = True) -> List[Step]:
    """The executable steps for ``plan``: values in ``exposed`` keep their own step; values
    in ``fresh`` own their memory (they may be overwritten once no one reads them);
    ``consumers`` maps each value to the plan indices that read it."""
    position = {t: i for i, (_, _, tops) in enumerate(plan) for t in tops}
    steps: List[Step] = []
    done: Set[int] = set()
    for i, (name, bottoms, tops) in enumerate(plan):
        if i in done:
            continue
        fused = _fused(i, plan, modules, consumers, exposed, position, fresh) if fuse \
            else None
        if fused is not None:
            step, absorbed = fused
            steps.append(step)
            done.update(absorbed)
            continue
        k = reuse.get(i)
        steps.append((name, tuple(bottoms), tuple(tops), {} if k is None else {"reuse": k}))
    return steps


def _sole_reader(value: str, consumers, exposed) -> Optional[int]:
    """The step that alone reads ``value`` (once), if ``value`` is not returned."""
    readers = consumers.get(value, [])
    return readers[0] if len(readers) == 1 and value not in exposed else None


def _fused(i, plan, modules, consumers, exposed, position,
           fresh) -> Optional[Tuple[Step, List[int]]]:
    """Step ``i`` (a Convolution) with the ReLU / Eltwise SUM (+ ReLU) it feeds as post-ops,
    and the plan indices it absorbs; None when nothing can be fused."""
    name, bottoms, tops = plan[i]
    if not modules[name].takes_post_ops or len(bottoms) != 1 or len(tops) != 1:
        return None
    j = _sole_reader(tops[0], consumers, exposed)
    if j is None:
        return None
    next_name, next_bottoms, next_tops = plan[j]
    post_op = modules[next_name].post_op(next_bottoms)
    if post_op == "relu":
        return (name, tuple(bottoms), tuple(next_tops), {"relu": True}), [j]
    if post_op != "sum" or len(next_tops) != 1:
        return None
    other = next_bottoms[1] if next_bottoms[0] == tops[0] else next_bottoms[0]
    # Readers of ``other`` from the convolution on (itself included) would see it changed.
    later = [r for r in consumers.get(other, []) if r >= i and r != j]
    if other not in fresh or other in exposed or later or position.get(other, -1) >= i:
        return None
    inputs = (bottoms[0], other)
    k = _sole_reader(next_tops[0], consumers, exposed)
    if k is not None and modules[plan[k][0]].post_op(plan[k][1]) == "relu":
        return (name, inputs, tuple(plan[k][2]), {"relu": True}), [j, k]
    return (name, inputs, tuple(next_tops), {}), [j]
