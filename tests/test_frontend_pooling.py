"""Source pooling -> Caffe Pooling choices (converter.frontends.pooling), framework-free."""

from __future__ import annotations

import pytest

from converter.frontends.pooling import adaptive_pooling, caffe_pooling


@pytest.mark.parametrize("size, k, s, p, out, mode", [
    ((112, 112), (3, 3), (2, 2), (1, 1), (56, 56), "FLOOR"),  # torchvision ResNet's maxpool
    ((112, 112), (3, 3), (2, 2), (0, 0), (56, 56), "CEIL"),   # Kaiming's pool1 (no pad)
    ((15, 15), (2, 2), (2, 2), (0, 0), (7, 7), "FLOOR"),      # floor mode on an odd input
    ((15, 15), (2, 2), (2, 2), (0, 0), (8, 8), "CEIL"),       # ceil mode
    ((5, 5), (1, 1), (3, 3), (0, 0), (2, 2), "FLOOR"),        # torch's ceil clip, pad 0
    ((4, 4), (4, 4), (3, 3), (2, 2), (2, 2), "CEIL"),         # Caffe's clip with pad
])
def test_extent_by_ceil_else_floor(size, k, s, p, out, mode):
    choice = caffe_pooling("MAX", size, k, s, p, out)
    assert choice.refusal is None and choice.params.round_mode == mode
    assert (choice.warning is not None) == (mode == "FLOOR")


def test_impossible_extent_refused():
    choice = caffe_pooling("MAX", (8, 8), (2, 2), (2, 2), (0, 0), (6, 6))
    assert choice.params is None and "cannot produce" in choice.refusal


def test_average_must_count_padding():
    assert caffe_pooling("AVE", (8, 8), (3, 3), (1, 1), (1, 1), (8, 8),
                         count_include_pad=False).refusal
    # No padding: nothing to count, both divisors agree.
    assert caffe_pooling("AVE", (8, 8), (2, 2), (2, 2), (0, 0), (4, 4),
                         count_include_pad=False).params is not None


def test_whole_input_window_is_global():
    assert caffe_pooling("AVE", (7, 7), (7, 7), (1, 1), (0, 0), (1, 1)).params.global_pooling


@pytest.mark.parametrize("size, out, kernel", [((7, 7), (1, 1), None), ((12, 8), (3, 2), (4, 4)),
                                               ((6, 6), (6, 6), (1, 1))])
def test_adaptive(size, out, kernel):
    params = adaptive_pooling("AVE", size, out).params
    if kernel is None:
        assert params.global_pooling
    else:
        assert params.kernel == kernel and params.stride == kernel


def test_adaptive_uneven_refused():
    assert "not a multiple" in adaptive_pooling("AVE", (7, 7), (3, 3)).refusal
