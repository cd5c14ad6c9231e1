"""Front ends: PyTorch and MXNet models lowered to the IR, for export to Caffe.

``frontends.torch`` lowers a ``torch.export`` ATen graph, ``frontends.mxnet`` an MXNet symbol's
JSON graph; both build the IR through :class:`~converter.frontends.builder.NetBuilder` and write
Caffe files with :func:`~converter.frontends.save.save_caffe`. Only the two framework
subpackages import their framework, so this package imports neither.
"""
