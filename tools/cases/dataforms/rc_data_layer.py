"""A deterministic Python data layer for the dataforms_python golden case.

Loaded by pycaffe inside the Caffe chroot (tools/golden_dataforms.py puts
this folder on sys.path).  param_str is JSON: {"shape": [N, C, H, W],
"seed": S}; top 0 is N(0, 1) from RandomState(S), top 1 the labels i % 3.
"""
import json

import caffe
import numpy as np


class DeterministicData(caffe.Layer):
    """Two tops (data, label) that never change between forward passes."""

    def setup(self, bottom, top):
        params = json.loads(self.param_str)
        self.shape = [int(d) for d in params["shape"]]
        self.seed = int(params.get("seed", 0))

    def reshape(self, bottom, top):
        top[0].reshape(*self.shape)
        top[1].reshape(self.shape[0])

    def forward(self, bottom, top):
        values = np.random.RandomState(self.seed).standard_normal(self.shape)
        top[0].data[...] = values.astype(np.float32)
        top[1].data[...] = np.arange(self.shape[0]) % 3

    def backward(self, top, propagate_down, bottom):
        pass
