"""Peak RSS of a converted model's no-grad CPU inference, with the packed oneDNN path on or off.

    python bench/inference_memory.py --depth 152 --batch 1 --packed 1
    python bench/inference_memory.py --depth 152 --batch 1 --packed 0

Loads the caffemodel made by bench/make_models.py, builds the module, runs 3 forwards under
``torch.inference_mode`` and prints ``ru_maxrss`` after the build and after the forwards.
One configuration per process, so the peaks do not mix.
"""

from __future__ import annotations

import argparse
import resource
import sys


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", default="/var/tmp/resnet-bench")
    ap.add_argument("--depth", type=int, default=152)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--packed", type=int, choices=(0, 1), default=1)
    ap.add_argument("--fold-bn", action="store_true")
    args = ap.parse_args(argv)
    import torch
    from converter.backends.torch import onednn as torch_onednn
    from converter.backends.torch.net import to_torch
    from converter.caffe.loader import load_caffe
    torch.set_num_threads(2)
    torch_onednn.set_enabled(bool(args.packed))
    net, weights = load_caffe(f"{args.dir}/ResNet-{args.depth}-model.caffemodel")
    model = to_torch(net, weights, fold_bn=args.fold_bn)
    del weights
    built = _peak_mib()
    x = torch.randn(args.batch, 3, 224, 224)
    with torch.inference_mode():
        for _ in range(3):
            model(x)
    print(f"ResNet-{args.depth} batch {args.batch} packed={args.packed} fold_bn={args.fold_bn}: "
          f"peak RSS {built:.0f} MiB after building, {_peak_mib():.0f} MiB after 3 forwards")
    return 0


if __name__ == "__main__":
    sys.exit(main())
