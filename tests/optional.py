"""Optional third-party dependencies of the tests: skip without them, or fail in CI.

Locally a missing extra (torch, mxnet, h5py, onnx, onnxruntime) skips the tests that need it.
With ``RESNET_CONVERT_REQUIRE_EXTRAS=1`` (set by .ci/run) a missing one is an error, so a
broken install cannot turn a failure into a skip. The project's own modules are never
optional: tests import them plainly, and a broken import fails.
"""

from __future__ import annotations

import importlib
import os

import pytest

REQUIRED = os.environ.get("RESNET_CONVERT_REQUIRE_EXTRAS") == "1"


def need(module: str, reason: str = ""):
    """Import and return ``module``; without it skip, or fail when extras are required."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        if REQUIRED:
            raise ImportError(f"{module} is required (RESNET_CONVERT_REQUIRE_EXTRAS=1): {exc}")
        pytest.skip(reason or f"needs {module}", allow_module_level=True)
