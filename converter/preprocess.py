"""Preprocessing facts that travel with a converted model.

Caffe classifiers (Kaiming's ResNets among them) expect BGR images with values in 0..255 minus
a mean (per-channel values or a mean image from a ``.binaryproto``). A converted model that
forgets this silently gives wrong answers, so these facts are saved beside the weights.
``--rgb`` folds the channel swap into the first convolution(s) instead, so the converted model
takes RGB input; this is exact, because reversing input channels commutes with convolution.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Dict, List, Optional, Tuple

import numpy as np

from .errors import UsageError
from .ir import Net

#: Kaiming's ImageNet ResNets were trained on BGR 0..255 images minus a mean image.
DEFAULT_ORDER = "BGR"


@dataclass
class Preprocess:
    """What the model expects: ``(image[order] * input_scale - mean) * scale``, N,C,H,W.

    ``input_scale`` multiplies [0, 1] images to Caffe's range (255 for 0..255 models);
    ``mean_values`` are per channel, ``mean_image`` (C,H,W) a full mean, both in the model's
    channel order (the one after any ``--rgb`` fold); ``scale`` is Caffe's transform_param
    scale, applied after the mean (DataTransformer). ``mean_file`` names a mean file a train
    net's Data layer referred to, when it was not given with ``--mean``.
    """
    channel_order: str = DEFAULT_ORDER
    input_scale: float = 255.0
    mean_values: Tuple[float, ...] = ()
    mean_image: Optional[np.ndarray] = field(default=None, repr=False)
    input_shape: Tuple[int, ...] = ()
    scale: float = 1.0
    mean_file: Optional[str] = None

    def to_json(self, include_mean: bool = False) -> str:
        """The facts as JSON. The mean image is left out (stored as an array beside it)
        unless ``include_mean``, for formats that carry only text."""
        data = {"channel_order": self.channel_order, "input_scale": self.input_scale,
                "mean_values": list(self.mean_values),
                "has_mean_image": self.mean_image is not None,
                "input_shape": list(self.input_shape), "scale": self.scale,
                "mean_file": self.mean_file}
        if include_mean and self.mean_image is not None:
            data["mean_image"] = self.mean_image.tolist()
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str, mean_image: Optional[np.ndarray] = None) -> "Preprocess":
        """Inverse of :meth:`to_json`."""
        data = json.loads(text)
        if mean_image is None and "mean_image" in data:
            mean_image = np.asarray(data["mean_image"], np.float32)
        return cls(channel_order=data["channel_order"], input_scale=data["input_scale"],
                   mean_values=tuple(data["mean_values"]), mean_image=mean_image,
                   input_shape=tuple(data.get("input_shape", ())),
                   scale=data.get("scale", 1.0), mean_file=data.get("mean_file"))

    def apply(self, image: np.ndarray) -> np.ndarray:
        """Turn an RGB H,W,C float image in [0, 1] into the model's 1,C,H,W input."""
        if image.ndim != 3 or image.shape[2] != 3:
            raise UsageError(f"expected an H,W,3 RGB image, got shape {image.shape}")
        x = image.astype(np.float32) * np.float32(self.input_scale)
        if self.channel_order == "BGR":
            x = x[:, :, ::-1]
        x = np.ascontiguousarray(x.transpose(2, 0, 1))
        if self.mean_image is not None:
            x = x - _fit_mean(self.mean_image, x.shape)
        elif self.mean_values:
            x = x - np.asarray(self.mean_values, np.float32)[:, None, None]
        if self.scale != 1.0:
            x = x * np.float32(self.scale)
        return x[None]


def _fit_mean(mean: np.ndarray, shape) -> np.ndarray:
    """Centre-crop a mean image to the input size (Caffe crops mean and image alike)."""
    c, h, w = shape
    mh, mw = mean.shape[-2:]
    if mh < h or mw < w:
        raise UsageError(f"mean image {mean.shape[-2:]} is smaller than the input {(h, w)}")
    top, left = (mh - h) // 2, (mw - w) // 2
    return mean.reshape(-1, mh, mw)[:, top:top + h, left:left + w]


def input_consumers(net: Net) -> List[str]:
    """Names of layers that read a declared input blob directly."""
    inputs = set(net.input_blobs())
    return [l.name for l in net.layers if l.type != "Input" and set(l.bottoms) & inputs]


def fold_rgb(net: Net, weights: Dict[str, List[np.ndarray]],
             pre: Preprocess) -> Tuple[Dict[str, List[np.ndarray]], Preprocess]:
    """Reverse the input-channel axis of every convolution that reads the image, so the
    model takes RGB instead of BGR. Refused unless *all* readers of the input are 3-channel
    convolutions (anything else would see swapped channels)."""
    readers = [net.layer(n) for n in input_consumers(net)]
    bad = [l.name for l in readers if l.type != "Convolution" or l.params.group != 1
           or weights.get(l.name, [np.zeros((0, 0))])[0].shape[1] != 3]
    if not readers or bad:
        raise UsageError("--rgb needs every layer reading the input to be an ungrouped "
                         f"3-channel Convolution; these are not: {', '.join(bad) or 'none found'}")
    out = dict(weights)
    for layer in readers:
        blobs = list(out[layer.name])
        blobs[0] = np.ascontiguousarray(blobs[0][:, ::-1])
        out[layer.name] = blobs
    return out, _swapped(pre)


def _swapped(pre: Preprocess) -> Preprocess:
    order = "RGB" if pre.channel_order == "BGR" else "BGR"
    mean_image = None if pre.mean_image is None else np.ascontiguousarray(pre.mean_image[::-1])
    return replace(pre, channel_order=order, mean_values=tuple(reversed(pre.mean_values)),
                   mean_image=mean_image)


def _data_transform(net: Net):
    """The transform_param of the Data layer a train net's input came from, if any."""
    for layer in net.layers:
        if layer.type == "Input" and layer.params.transform is not None:
            return layer.params.transform
    return None


def make_preprocess(net: Net, mean_file=None, mean_values=None,
                    input_scale: float = 255.0) -> Preprocess:
    """Preprocessing for a Caffe net: BGR, 0..255, mean from a binaryproto or values.
    Without ``mean_file``/``mean_values``, a train net's Data layer supplies its own mean
    values, scale and mean-file name (as Caffe's DataTransformer would apply them)."""
    shape = next(iter(net.input_blobs().values()), ())
    mean_image = None
    if mean_file is not None:
        from .caffe.reader import read_binaryproto
        mean_image = np.asarray(read_binaryproto(mean_file), np.float32)
        mean_image = mean_image.reshape(mean_image.shape[-3:])
    values = tuple(float(v) for v in mean_values) if mean_values else ()
    pre = Preprocess(input_scale=input_scale, mean_values=values, mean_image=mean_image,
                     input_shape=tuple(shape))
    transform = _data_transform(net)
    if transform is not None:
        pre.scale = transform.scale
        if mean_file is None and not mean_values:
            pre.mean_values = tuple(transform.mean_value)
            pre.mean_file = transform.mean_file
    return pre
