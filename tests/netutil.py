"""Helpers shared by the back-end and CLI tests."""

from __future__ import annotations

from typing import Dict, List

import numpy as np

BN_FACTOR = np.float32(999.982)  # the scale factor Caffe's saved BatchNorm blobs carry


def random_weights(net, seed: int = 0, scale: float = 1.0) -> Dict[str, List[np.ndarray]]:
    """Random float32 blobs of the shapes shape inference gives (``net`` is validated).
    BatchNorm gets raw Caffe statistics: mean and a positive variance, both multiplied by
    the factor 999.982, and the factor itself."""
    net.validate()
    rng = np.random.default_rng(seed)
    weights = {}
    for layer in net.layers:
        blobs = [(rng.standard_normal(s) * scale).astype(np.float32) for s in layer.blob_shapes]
        if layer.type == "BatchNorm":
            blobs = [blobs[0] * BN_FACTOR, (np.abs(blobs[1]) + 0.5) * BN_FACTOR,
                     np.array([BN_FACTOR], np.float32)]
        if blobs:
            weights[layer.name] = blobs
    return weights
