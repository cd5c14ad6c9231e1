"""The translators, one per supported Caffe layer type (see ``layers.py`` for the protocol).

Field semantics cite the Caffe layer that consumes them; defaults are caffe.proto's.
"""

from __future__ import annotations

from ..errors import CaffeFormatError, UnsupportedLayerError
from ..ir import params as P
from .layers import (_enum_name, _enum_value, _set, conv_pair, pool_pair, read_filler,
                     register, write_conv_pair, write_filler, write_pool_pair)


@register("Convolution", "convolution_param")
class Convolution:
    def read(lp):
        p = lp.convolution_param
        if p.axis != 1:  # channels at another axis: N-D im2col only, not 2-D NCHW
            raise UnsupportedLayerError(f"convolution_param.axis {p.axis}: only axis 1")
        return P.ConvolutionParam(
            num_output=p.num_output, bias_term=p.bias_term, kernel=conv_pair(p, "kernel", None),
            stride=conv_pair(p, "stride", 1), pad=conv_pair(p, "pad", 0),
            dilation=conv_pair(p, "dilation", 1), group=p.group,
            weight_filler=read_filler(p, "weight_filler"),
            bias_filler=read_filler(p, "bias_filler"))

    def write(c, lp):
        p = lp.convolution_param
        p.num_output = c.num_output
        _set(p, "bias_term", c.bias_term, True)
        write_conv_pair(p, "pad", c.pad, 0)
        write_conv_pair(p, "kernel", c.kernel, 0)
        write_conv_pair(p, "stride", c.stride, 1)
        if c.dilation != (1, 1):
            # Caffe has no dilation_h/_w: the repeated form is the only spelling.
            p.dilation.extend(c.dilation if c.dilation[0] != c.dilation[1] else c.dilation[:1])
        _set(p, "group", c.group, 1)
        write_filler(c.weight_filler, p, "weight_filler")
        write_filler(c.bias_filler, p, "bias_filler")


@register("Pooling", "pooling_param")
class Pooling:
    def read(lp):
        p = lp.pooling_param
        has_kernel = p.HasField("kernel_size") or p.HasField("kernel_h") or p.HasField("kernel_w")
        if p.global_pooling and has_kernel:
            raise CaffeFormatError("with global_pooling: true the kernel size cannot be given")
        if not p.global_pooling and not has_kernel:
            raise CaffeFormatError("kernel_size (or kernel_h and kernel_w) is required")
        return P.PoolingParam(
            pool=_enum_name(p, "pool"), kernel=pool_pair(p, "kernel", None),
            stride=pool_pair(p, "stride", 1), pad=pool_pair(p, "pad", 0),
            global_pooling=p.global_pooling, round_mode=_enum_name(p, "round_mode"))

    def write(c, lp):
        p = lp.pooling_param
        if c.pool != "MAX":
            p.pool = _enum_value(p, "pool", c.pool)
        if not c.global_pooling:
            write_pool_pair(p, "kernel", c.kernel, 0)
        write_pool_pair(p, "stride", c.stride, 1)
        write_pool_pair(p, "pad", c.pad, 0)
        _set(p, "global_pooling", c.global_pooling, False)
        if c.round_mode != "CEIL":
            p.round_mode = _enum_value(p, "round_mode", c.round_mode)


@register("BatchNorm", "batch_norm_param")
class BatchNorm:
    def read(lp):
        p = lp.batch_norm_param
        # Unset use_global_stats means "true in TEST" (BatchNormLayer::LayerSetUp).
        ugs = p.use_global_stats if p.HasField("use_global_stats") else None
        return P.BatchNormParam(use_global_stats=ugs, eps=p.eps,
                                moving_average_fraction=p.moving_average_fraction)

    def write(c, lp):
        p = lp.batch_norm_param
        if c.use_global_stats is not None:
            p.use_global_stats = c.use_global_stats
        _set(p, "moving_average_fraction", c.moving_average_fraction,
             P.BatchNormParam.moving_average_fraction)
        _set(p, "eps", c.eps, P.BatchNormParam.eps)
        if not lp.HasField("batch_norm_param"):
            lp.batch_norm_param.SetInParent()


@register("Scale", "scale_param")
class Scale:
    def read(lp):
        p = lp.scale_param
        return P.ScaleParam(axis=p.axis, num_axes=p.num_axes, bias_term=p.bias_term,
                            filler=read_filler(p, "filler"),
                            bias_filler=read_filler(p, "bias_filler"))

    def write(c, lp):
        p = lp.scale_param
        _set(p, "axis", c.axis, 1)
        _set(p, "num_axes", c.num_axes, 1)
        _set(p, "bias_term", c.bias_term, False)
        write_filler(c.filler, p, "filler")
        write_filler(c.bias_filler, p, "bias_filler")


@register("ReLU", "relu_param")
class ReLU:
    def read(lp):
        return P.ReLUParam(negative_slope=lp.relu_param.negative_slope)

    def write(c, lp):
        _set(lp.relu_param, "negative_slope", c.negative_slope, 0.0)


@register("Eltwise", "eltwise_param")
class Eltwise:
    def read(lp):
        p = lp.eltwise_param
        op = _enum_name(p, "operation")
        if p.coeff and op != "SUM":  # EltwiseLayer::LayerSetUp
            raise CaffeFormatError("Eltwise only takes coefficients for summation (SUM)")
        if p.coeff and len(p.coeff) != len(lp.bottom):
            raise CaffeFormatError(f"Eltwise takes one coeff per bottom: {len(p.coeff)} "
                                   f"coeffs for {len(lp.bottom)} bottoms")
        return P.EltwiseParam(operation=op, coeff=tuple(p.coeff))

    def write(c, lp):
        p = lp.eltwise_param
        if c.operation != "SUM":
            p.operation = _enum_value(p, "operation", c.operation)
        p.coeff.extend(c.coeff)


@register("InnerProduct", "inner_product_param")
class InnerProduct:
    def read(lp):
        p = lp.inner_product_param
        return P.InnerProductParam(num_output=p.num_output, bias_term=p.bias_term, axis=p.axis,
                                   transpose=p.transpose,
                                   weight_filler=read_filler(p, "weight_filler"),
                                   bias_filler=read_filler(p, "bias_filler"))

    def write(c, lp):
        p = lp.inner_product_param
        p.num_output = c.num_output
        _set(p, "bias_term", c.bias_term, True)
        _set(p, "axis", c.axis, 1)
        _set(p, "transpose", c.transpose, False)
        write_filler(c.weight_filler, p, "weight_filler")
        write_filler(c.bias_filler, p, "bias_filler")


class _AxisOnly:
    """Types whose parameters are one ``axis`` of a SoftmaxParameter."""
    def read(lp):
        return P.SoftmaxParam(axis=lp.softmax_param.axis)

    def write(c, lp):
        _set(lp.softmax_param, "axis", c.axis, 1)


register("Softmax", "softmax_param")(type("Softmax", (_AxisOnly,), {}))
register("SoftmaxWithLoss", "softmax_param")(type("SoftmaxWithLoss", (_AxisOnly,), {}))


@register("Concat", "concat_param")
class Concat:
    def read(lp):
        p = lp.concat_param
        if p.HasField("axis") and p.HasField("concat_dim"):  # ConcatLayer::LayerSetUp
            raise CaffeFormatError("either axis or concat_dim may be given, not both")
        return P.ConcatParam(axis=p.concat_dim if p.HasField("concat_dim") else p.axis)

    def write(c, lp):
        _set(lp.concat_param, "axis", c.axis, 1)


@register("Dropout", "dropout_param")
class Dropout:
    def read(lp):
        return P.DropoutParam(dropout_ratio=lp.dropout_param.dropout_ratio)

    def write(c, lp):
        _set(lp.dropout_param, "dropout_ratio", c.dropout_ratio, 0.5)


@register("Power", "power_param")
class Power:
    def read(lp):
        p = lp.power_param
        return P.PowerParam(power=p.power, scale=p.scale, shift=p.shift)

    def write(c, lp):
        for name, default in (("power", 1.0), ("scale", 1.0), ("shift", 0.0)):
            _set(lp.power_param, name, getattr(c, name), default)


@register("Flatten", "flatten_param")
class Flatten:
    def read(lp):
        return P.FlattenParam(axis=lp.flatten_param.axis, end_axis=lp.flatten_param.end_axis)

    def write(c, lp):
        _set(lp.flatten_param, "axis", c.axis, 1)
        _set(lp.flatten_param, "end_axis", c.end_axis, -1)


@register("Reshape", "reshape_param")
class Reshape:
    def read(lp):
        p = lp.reshape_param
        return P.ReshapeParam(shape=tuple(p.shape.dim), axis=p.axis, num_axes=p.num_axes)

    def write(c, lp):
        p = lp.reshape_param
        p.shape.dim.extend(c.shape)
        _set(p, "axis", c.axis, 0)
        _set(p, "num_axes", c.num_axes, -1)


@register("LRN", "lrn_param")
class LRN:
    def read(lp):
        p = lp.lrn_param
        if p.local_size % 2 == 0:  # LRNLayer::LayerSetUp's check
            raise CaffeFormatError(f"local_size {p.local_size}: LRN only supports odd values")
        return P.LRNParam(local_size=p.local_size, alpha=p.alpha, beta=p.beta,
                          norm_region=_enum_name(p, "norm_region"), k=p.k)

    def write(c, lp):
        p = lp.lrn_param
        for name, default in (("local_size", 5), ("alpha", 1.0), ("beta", 0.75), ("k", 1.0)):
            _set(p, name, getattr(c, name), default)
        if c.norm_region != "ACROSS_CHANNELS":
            p.norm_region = _enum_value(p, "norm_region", c.norm_region)


@register("Sigmoid", "sigmoid_param")
class Sigmoid:
    def read(lp):
        return None

    def write(c, lp):
        pass


register("TanH", "tanh_param")(type("TanH", (Sigmoid,), {}))


@register("Input", "input_param")
class Input:
    def read(lp):
        shapes = [tuple(int(d) for d in s.dim) for s in lp.input_param.shape]
        if len(shapes) == 1 and len(lp.top) > 1:  # InputLayer: one shape serves every top
            shapes = shapes * len(lp.top)
        if len(shapes) != len(lp.top):
            raise CaffeFormatError(f"Input layer has {len(lp.top)} tops but "
                                   f"{len(shapes)} shapes")
        if any(d < 0 for s in shapes for d in s):
            raise CaffeFormatError(f"negative input dimension in {[list(s) for s in shapes]}")
        return P.InputParam(shape=tuple(shapes))

    def write(c, lp):
        for shape in c.shape:
            lp.input_param.shape.add().dim.extend(shape)


def read_transform(lp) -> P.TransformParam:
    """The layer's transform_param (Caffe's DataTransformer settings) as an IR value."""
    t = lp.transform_param
    return P.TransformParam(scale=t.scale, mirror=t.mirror, crop_size=t.crop_size,
                            mean_file=t.mean_file if t.HasField("mean_file") else None,
                            mean_value=tuple(t.mean_value))


@register("Data", "data_param")
class Data:
    def read(lp):
        p = lp.data_param
        return P.DataParam(source=p.source, batch_size=p.batch_size,
                           backend=_enum_name(p, "backend"), transform=read_transform(lp))

    def write(c, lp):
        p, t = lp.data_param, c.transform
        p.source, p.batch_size = c.source, c.batch_size
        if c.backend != "LEVELDB":
            p.backend = _enum_value(p, "backend", c.backend)
        if t != P.TransformParam():
            tp = lp.transform_param
            _set(tp, "scale", t.scale, 1.0)
            _set(tp, "mirror", t.mirror, False)
            _set(tp, "crop_size", t.crop_size, 0)
            if t.mean_file is not None:
                tp.mean_file = t.mean_file
            tp.mean_value.extend(t.mean_value)


@register("Accuracy", "accuracy_param")
class Accuracy:
    def read(lp):
        return P.AccuracyParam(top_k=lp.accuracy_param.top_k, axis=lp.accuracy_param.axis)

    def write(c, lp):
        _set(lp.accuracy_param, "top_k", c.top_k, 1)
        _set(lp.accuracy_param, "axis", c.axis, 1)


@register("Split")
class Split:
    """Caffe's InsertSplits layer: its tops share the bottom's data (SplitLayer::Forward)."""
    def read(lp):
        return None

    def write(c, lp):
        pass
