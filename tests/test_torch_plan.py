"""The torch memory plan and post-op fusion of ResNet-50 stay what they were.

The compiled steps (which post-ops fuse into which convolution, which step computes in which
bottom's memory) decide inference speed; bench/RESULTS.md was measured with these. The
fingerprints below were taken before the back end became a package (issue 13); a change
to them changes speed and must be re-benched.
"""

import hashlib
import json

import pytest

torch = pytest.importorskip("torch")

from converter.backends.torch import to_torch  # noqa: E402
from converter.builders import build  # noqa: E402

FINGERPRINTS = {
    False: ("c33d3d74", 228, 171),
    True: ("4f8ba786", 57, 49),
}


def _fingerprint(model) -> str:
    def steps(seq):
        return [[s[0], list(s[1]), list(s[2]), sorted(s[3].items())] for s in seq]
    data = {"plan": [[s[0], list(s[1]), list(s[2])] for s in model.plan],
            "steps": steps(model._steps), "steps_all": steps(model._steps_all),
            "reuse": sorted(model.reuse.items()), "reuse_all": sorted(model.reuse_all.items())}
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:8]


@pytest.fixture(scope="module")
def resnet50():
    return build(50)


@pytest.mark.parametrize("fold_bn", [False, True])
def test_resnet50_steps_unchanged(resnet50, fold_bn):
    model = to_torch(resnet50, None, fold_bn=fold_bn)
    digest, n_steps, n_with_kwargs = FINGERPRINTS[fold_bn]
    assert len(model._steps) == n_steps
    assert sum(1 for s in model._steps if s[3]) == n_with_kwargs
    assert _fingerprint(model) == digest
