"""Convolution, transposed convolution, fully connected ops and upsampling -> Caffe
Convolution, Deconvolution, InnerProduct (nearest upsampling: copies)."""

from __future__ import annotations

import torch

from ... import ir as P
from ..bilinear import bilinear_plan
from .common import array, out, pair
from .lower import Blob, Lowering, register


# --------------------------------------------------------------- convolution


def _conv(lw, node, x, w, b, stride, pad, dilation, groups):
    if not isinstance(x, Blob) or not isinstance(w, torch.Tensor):
        lw.builder.unsupported("convolution with a computed (non-parameter) weight",
                               lw.where(node))
        return None
    if w.dim() != 4:
        lw.builder.unsupported(f"{w.dim() - 2}-D convolution (Caffe export is 2-D)",
                               lw.where(node))
        return None
    p = P.ConvolutionParam(num_output=int(w.shape[0]), bias_term=b is not None,
                           kernel=tuple(w.shape[2:]), stride=pair(stride, 1),
                           pad=pair(pad, 0), dilation=pair(dilation, 1), group=int(groups))
    blobs = [array(w)] + ([] if b is None else [array(b)])
    top = lw.builder.add("Convolution", lw.layer_name(node), [x.name], p, blobs)
    return out(lw, node, top)


@register("conv2d")
def convert_conv2d(lw: Lowering, node):
    args = list(lw.value(node.args)) + [None] * 7
    x, w, b, stride, pad, dilation, groups = args[:7]
    if isinstance(pad, str):
        pad = _string_padding(pad, w, pair(dilation, 1))
        if pad is None:
            lw.builder.unsupported("conv2d padding='same' with an even kernel (asymmetric)",
                                   lw.where(node))
            return None
    return _conv(lw, node, x, w, b, stride, pad, dilation, 1 if groups is None else groups)


def _string_padding(mode, w, dilation):
    if mode == "valid":
        return (0, 0)
    total = [d * (k - 1) for d, k in zip(dilation, w.shape[2:])]
    return None if any(t % 2 for t in total) else tuple(t // 2 for t in total)


@register("convolution")
def convert_convolution(lw: Lowering, node):
    x, w, b, stride, pad, dilation, transposed, out_pad, groups = lw.value(node.args)[:9]
    if transposed:
        return _deconv(lw, node, x, w, b, stride, pad, out_pad, groups, dilation)
    return _conv(lw, node, x, w, b, stride, pad, dilation, groups)


@register("conv_transpose2d")
def convert_conv_transpose(lw: Lowering, node):
    args = list(lw.value(node.args)) + [None] * 8
    x, w, b, stride, pad, out_pad, groups, dilation = args[:8]
    return _deconv(lw, node, x, w, b, stride, pad, out_pad, 1 if groups is None else groups,
                   dilation)


def _deconv(lw, node, x, w, b, stride, pad, out_pad, groups, dilation):
    """ConvTranspose2d -> Deconvolution. The weight layouts agree: (C_in, C_out / groups,
    kh, kw) in both. Caffe's output is ``s (in - 1) + d (k - 1) + 1 - 2 pad``; PyTorch adds
    ``output_padding`` at the bottom/right, which Caffe cannot, so that is refused."""
    if not isinstance(x, Blob) or not isinstance(w, torch.Tensor) or w.dim() != 4:
        lw.builder.unsupported("transposed convolution that is not 2-D with a parameter "
                               "weight", lw.where(node))
        return None
    if pair(out_pad, 0) != (0, 0):
        lw.builder.unsupported(f"transposed convolution with output_padding "
                               f"{list(pair(out_pad, 0))} (Caffe's Deconvolution has none)",
                               lw.where(node))
        return None
    p = P.ConvolutionParam(num_output=int(w.shape[1]) * int(groups), bias_term=b is not None,
                           kernel=tuple(w.shape[2:]), stride=pair(stride, 1),
                           pad=pair(pad, 0), dilation=pair(dilation, 1), group=int(groups))
    blobs = [array(w)] + ([] if b is None else [array(b)])
    top = lw.builder.add("Deconvolution", lw.layer_name(node), [x.name], p, blobs)
    return out(lw, node, top)


# ------------------------------------------------------------------ linear


def _inner_product(lw, node, x, w, b):
    if not isinstance(x, Blob) or not isinstance(w, torch.Tensor):
        lw.builder.unsupported("matrix product of two computed tensors", lw.where(node))
        return None
    # InnerProduct flattens from `axis` on; torch's linear acts on the last axis only, which
    # is the same thing when axis is the last one (2-D input after flatten: axis 1).
    p = P.InnerProductParam(num_output=int(w.shape[0]), bias_term=b is not None,
                            axis=len(x.shape) - 1)
    blobs = [array(w)] + ([] if b is None else [array(b)])
    top = lw.builder.add("InnerProduct", lw.layer_name(node), [x.name], p, blobs)
    return out(lw, node, top)


@register("linear")
def convert_linear(lw: Lowering, node):
    args = list(lw.value(node.args)) + [None]
    return _inner_product(lw, node, args[0], args[1], args[2])


@register("addmm")
def convert_addmm(lw: Lowering, node):
    b, x, wt = lw.value(node.args)[:3]
    if node.kwargs.get("beta", 1) != 1 or node.kwargs.get("alpha", 1) != 1 or \
            not isinstance(wt, torch.Tensor) or not isinstance(b, torch.Tensor):
        lw.builder.unsupported("addmm with alpha/beta or computed operands", lw.where(node))
        return None
    return _inner_product(lw, node, x, wt.t(), b.reshape(-1))


@register("mm")
def convert_mm(lw: Lowering, node):
    x, wt = lw.value(node.args)[:2]
    if not isinstance(wt, torch.Tensor):
        lw.builder.unsupported("matrix product of two computed tensors", lw.where(node))
        return None
    return _inner_product(lw, node, x, wt.t(), None)


@register("upsample_nearest2d")
def convert_upsample_nearest(lw: Lowering, node):
    """Nearest upsampling by whole factors: copies only (NetBuilder.add_upsample_nearest)."""
    x = lw.value(node.args[0])
    (oh, ow), (h, w) = lw.shape(node)[2:], x.shape[2:]
    if len(x.shape) != 4 or oh % h or ow % w:
        lw.builder.unsupported("nearest upsampling by a non-integer factor", lw.where(node))
        return None
    top = lw.builder.add_upsample_nearest(lw.layer_name(node), x.name, x.shape,
                                          (oh // h, ow // w))
    return out(lw, node, top)


@register("upsample_bilinear2d")
def convert_upsample_bilinear(lw: Lowering, node):
    """Bilinear upsampling -> a fixed-weight Deconvolution (:mod:`..bilinear`), where exact."""
    x = lw.value(node.args[0])
    args = list(node.args) + [None] * 4
    align = bool(args[2])
    if getattr(node.target, "_overloadname", "") == "vec":
        scales = args[3]
    else:  # .default: (input, output_size, align_corners, scales_h, scales_w)
        scales = None if args[3] is None and args[4] is None else (args[3], args[4])
    plans = bilinear_plan(x.shape[2:], lw.shape(node)[2:], align, scales)
    if isinstance(plans, str):
        lw.builder.unsupported(f"bilinear upsampling {plans}", lw.where(node))
        return None
    return out(lw, node, lw.builder.add_bilinear(lw.layer_name(node), x.name, x.shape, plans))


@register("conv_transpose1d", "conv_transpose3d", "_upsample_nearest_exact2d",
          "upsample_bicubic2d", "_upsample_bilinear2d_aa")
def convert_not_caffe(lw: Lowering, node):
    lw.builder.unsupported(f"aten.{node.target._schema.name.split('::')[-1]}: Caffe has no "
                           "such layer (Deconvolution is 2-D; its upsampling is bilinear)",
                           lw.where(node))
    return None
