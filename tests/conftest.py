"""Test-wide settings: every test starts from the same torch RNG state, so tests that draw
``torch.randn`` inputs are reproducible run to run (and failures can be replayed)."""

import sys

import pytest


@pytest.fixture(autouse=True)
def _seed_torch():
    torch = sys.modules.get("torch")  # seed only where torch is already in use
    if torch is not None:
        torch.manual_seed(0)


@pytest.fixture
def require_mxnet():
    """mxnet, or a skip (an error with RESNET_CONVERT_REQUIRE_EXTRAS=1)."""
    from optional import need
    return need("mxnet")
