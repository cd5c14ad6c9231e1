"""Code generation: a Caffe net as a readable, trainable, standalone PyTorch module.

``resnet-convert caffe2torch M.caffemodel -o model.py`` writes ``model.py`` (``class
Net(nn.Module)``; imports torch only, and safetensors inside ``Net.load``) and
``model.safetensors`` beside it. See :mod:`converter.codegen.generate`. Nothing in this
package imports torch.
"""

from .generate import Generated, generate, write_python

__all__ = ["Generated", "generate", "write_python"]
