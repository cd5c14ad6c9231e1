"""Record one golden case: real Caffe's forward pass on synthetic weights.

Runs inside the Caffe chroot; call it through tools/caffe-run.sh:

    tools/caffe-run.sh tools/make_golden.py --case layers_pooling --out golden
    tools/caffe-run.sh tools/make_golden.py --all --out golden
    tools/caffe-run.sh tools/make_golden.py --prototxt net.prototxt \
        --name mynet --out /tmp/g            # ad-hoc case, default settings
    tools/caffe-run.sh tools/make_golden.py --prototxt net.prototxt \
        --weights net.caffemodel --name mynet --out /tmp/g   # its own weights

Case specs live in tools/cases/cases.json; prototxt paths there are
relative to the repository root.  See golden/README.md for the file layout.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import caffe
import h5py
import numpy as np

import golden_calib
import golden_cases
import golden_h5
import golden_tolerance
import goldenlib
import reference64
import reference64_ext


def package_version(package):
    """Debian version of ``package`` inside the chroot ('' if unknown)."""
    try:
        out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", package],
                             stdout=subprocess.PIPE, check=True)
    except (OSError, subprocess.CalledProcessError):
        return ""
    return out.stdout.decode("ascii", "replace")


def build_net(spec, path):
    """Create the TEST-phase net, fill weights, calibrate BN, run forward.

    Returns (net, inputs, batch, extra) with ``net`` holding the golden
    forward; ``extra`` is empty here (see golden_dataforms for its keys).
    """
    params = golden_calib.layer_params(path)
    # Fixes Caffe's own fillers, which still set frozen (lr_mult 0) blobs.
    caffe.set_random_seed(spec["seed"])
    net = caffe.Net(path, caffe.TEST)
    shapes = golden_calib.input_shapes(net)
    batch = shapes[net.inputs[0]][0]
    seed, scale = spec["seed"], spec["input_scale"]
    if spec.get("weights"):  # a given caffemodel (e.g. an exported one): Caffe loads it
        net.copy_from(spec["weights"])
    else:
        golden_calib.fill_learned(net, seed, params)
    if any(l.type == "BatchNorm" for l in net.layers) and not spec.get("weights"):
        calib = golden_calib.input_shapes(net, spec["calib_batch"])
        golden_calib.set_inputs(net, seed, scale,
                                goldenlib.calibration_input, calib)
        golden_calib.calibrate_bn(net, spec)
    specs = spec.get("inputs", {})

    def maker(seed, name, shape, scale):
        return goldenlib.case_input(seed, name, shape, scale, specs.get(name))
    inputs = golden_calib.set_inputs(net, seed, scale, maker, shapes)
    net.forward()
    return net, inputs, batch, {}


def build(spec, path):
    """Run the case's builder: synthetic inputs (default), or a data layer /
    a train net (tools/golden_dataforms.py, imported only when needed)."""
    kind = spec.get("builder", "synthetic")
    if kind == "synthetic":
        return build_net(spec, path)
    import golden_dataforms
    if kind == "dataform":
        return golden_dataforms.build_dataform(spec, path)
    if kind == "train_net":
        return golden_dataforms.build_train_net(spec, path)
    raise ValueError("unknown builder %r in case %s" % (kind, spec["name"]))


def saved_caffemodel(net):
    """Bytes of ``net.save()``: Caffe's own serialization of the weights."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "net.caffemodel")
        net.save(path)
        with open(path, "rb") as handle:
            return handle.read()


def write_attrs(h5, spec, batch, extra):
    """Root attributes: provenance, settings and comparison tolerances."""
    attrs = h5.attrs
    attrs["format"] = golden_h5.FORMAT
    attrs["case"] = spec["name"]
    attrs["group"] = spec.get("group", "adhoc")
    attrs["prototxt_path"] = spec["prototxt"]
    attrs["caffe_version"] = caffe.__version__
    attrs["caffe_package"] = package_version("python3-caffe")
    attrs["blas_package"] = "libblas3 " + package_version("libblas3")
    attrs["numpy_version"] = np.__version__
    attrs["phase"] = "TEST"
    for key in ("seed", "bn_factor", "input_scale", "calib_batch"):
        attrs[key] = spec[key]
    attrs["bn_factor_overrides"] = json.dumps(spec.get("bn_factors", {}),
                                              sort_keys=True)
    specs = extra.get("input_specs") or spec.get("inputs")
    if specs:
        attrs["input_specs"] = json.dumps(specs, sort_keys=True)
    if extra.get("dropped"):
        attrs["dropped_blobs"] = json.dumps(sorted(extra["dropped"]))
    attrs["batch_size"] = batch
    attrs["storage"] = spec["storage"]
    attrs["has_caffemodel"] = bool(spec.get("caffemodel",
                                            spec["storage"] == "full"))
    attrs["made_by"] = ("tools/caffe-run.sh tools/make_golden.py --case %s"
                        " (tools/make-golden.sh)" % spec["name"])
    if spec.get("weights"):
        attrs["made_by"] = ("tools/caffe-run.sh tools/make_golden.py --prototxt %s "
                            "--weights %s" % (spec["prototxt"], spec["weights"]))
    if spec.get("generator"):
        attrs["generator_command"] = " ".join(["resnet-gen"]
                                               + spec["generator"])


def float64_blobs(net, path, inputs):
    """Every blob of ``net`` recomputed in float64 by tools/reference64.py (and
    reference64_ext.py for issue 14's types) from the
    weights Caffe holds and the same input."""
    params = golden_calib.layer_params(path)
    layers = [reference64.Layer(name, ltype, list(net.bottom_names[name]),
                                list(net.top_names[name]), params.get(name),
                                [np.array(b.data, np.float64) for b in layer.blobs])
              for name, ltype, layer in golden_calib.layer_table(net)]
    shapes = {n: tuple(b.data.shape) for n, b in net.blobs.items()}
    return reference64_ext.forward(layers, inputs, shapes)


def write_tolerances(h5, blobs, exact):
    """/tolerance/<blob>: per-channel absolute tolerances (golden_tolerance.py); the root
    ``atol``/``rtol`` become their one-number summary, ``float64_floor`` the worst blob's
    |Caffe - float64| relative to its scale."""
    tolerances, floors = golden_tolerance.case_tolerances(blobs, exact)
    group = h5.create_group("tolerance")
    group.attrs["rule"] = golden_tolerance.RULE
    group.attrs["safety"] = golden_tolerance.SAFETY
    worst = 0.0
    for name, data in blobs:
        golden_h5.write_array(group, golden_h5.h5_name(name), tolerances[name])
        scale = golden_tolerance.blob_scale(data)
        if scale:
            worst = max(worst, float(tolerances[name].max()) / scale)
    h5.attrs["atol"] = 0.0
    h5.attrs["rtol"] = float("%.1e" % worst)
    h5.attrs["float64_floor"] = float("%.3g" % max(floors.values()))


def write_case(spec, path, out_path, model_dir=None):
    """Run one case and write its HDF5 file atomically to ``out_path`` (and, with
    ``model_dir``, the caffemodel Caffe saves to ``model_dir/<case>.caffemodel``).
    Returns the builder's cleanup, to call once the net is gone (or None)."""
    net, inputs, batch, extra = build(spec, path)
    full = spec["storage"] == "full"
    with_model = spec.get("caffemodel", full)
    table = golden_calib.layer_table(net)
    dropped = extra.get("dropped", ())
    blobs = [(n, b.data) for n, b in net.blobs.items() if n not in dropped]
    exact = float64_blobs(net, path, inputs)
    key_blobs = set(spec.get("key_blobs", []))
    tmp_path = out_path + ".tmp"
    # libver "latest": compact object headers and groups roughly halve the
    # metadata of files with thousands of small datasets.
    with h5py.File(tmp_path, "w", libver="latest") as h5:
        write_attrs(h5, spec, batch, extra)
        with open(path) as handle:
            h5.create_dataset("prototxt", data=handle.read(),
                              dtype=h5py.string_dtype(encoding="utf-8"))
        golden_h5.write_strings(h5, "blob_names", [n for n, _ in blobs])
        golden_h5.write_strings(h5, "layer_names", [t[0] for t in table])
        golden_h5.write_strings(h5, "layer_types", [t[1] for t in table])
        write_inputs(h5, inputs)
        golden_h5.write_blobs(h5, blobs, lambda n: full or n in key_blobs)
        golden_h5.write_signatures(h5, spec["seed"], blobs)
        write_tolerances(h5, blobs, exact)
        golden_h5.write_float64(h5, spec["seed"], [n for n, _ in blobs], exact)
        write_weights(h5, table, path)
        if with_model:
            raw = extra.get("caffemodel") or saved_caffemodel(net)
            golden_h5.write_array(h5, "caffemodel", np.frombuffer(raw, dtype=np.uint8))
    os.replace(tmp_path, out_path)
    if model_dir:
        model_path = os.path.join(model_dir, spec["name"] + ".caffemodel")
        with open(model_path, "wb") as handle:
            handle.write(extra.get("caffemodel") or saved_caffemodel(net))
    return extra.get("cleanup")


def write_inputs(h5, inputs):
    """Write /input/<blob> with the exact arrays fed to Caffe."""
    group = h5.create_group("input")
    for name in sorted(inputs):
        golden_h5.write_array(group, golden_h5.h5_name(name), inputs[name])


def write_weights(h5, table, path):
    """Write the params goldenlib cannot recreate, and a check of those it can.

    /params holds every blob except the regenerated Conv/Deconv/IP weights
    (BN statistics, Scale gamma/beta, biases, frozen blobs); the same rule
    in every file keeps consumers simple.
    """
    params = golden_calib.layer_params(path)
    layers = [(n, t, [b.data for b in l.blobs]) for n, t, l in table]

    def keep(name, ltype, index):
        return not golden_calib.is_regenerated(params, name, ltype, index)

    golden_h5.write_params(h5, layers, keep)
    entries = []
    for name, ltype, arrays in layers:
        if arrays and golden_calib.is_regenerated(params, name, ltype, 0):
            transpose = (ltype == "InnerProduct"
                         and params[name].inner_product_param.transpose)
            entries.append((name, ltype, arrays[0].shape, transpose,
                            arrays[0]))
    golden_h5.write_regenerated(h5, entries)


def stored_prototxt(directory, case, out):
    """Write the prototxt text stored in ``directory/<case>.h5`` to a file under ``out``
    (the exact text Caffe loaded when that file was made) and return its path."""
    with h5py.File(os.path.join(directory, case + ".h5"), "r") as h5:
        text = h5["prototxt"][()]
    path = os.path.join(out, case + ".prototxt")
    with open(path, "w") as handle:
        handle.write(text.decode("utf-8") if isinstance(text, bytes) else text)
    return path


def parse_args(argv):
    """Command line of make_golden.py."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    golden_cases.add_selection_args(parser)
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--prototxt-from", metavar="DIR",
                        help="where a case's prototxt file is absent (Kaiming's files live "
                             "outside the repository), use the text stored in DIR/<case>.h5")
    parser.add_argument("--caffemodel-dir", metavar="DIR",
                        help="also write each case's caffemodel as Caffe saved it to "
                             "DIR/<case>.caffemodel (for cases too large to store it)")
    parser.add_argument("--weights", metavar="CAFFEMODEL",
                        help="with --prototxt: run the net with these weights (Caffe's "
                             "copy_from) instead of synthetic ones and calibration")
    args = parser.parse_args(argv)
    if args.weights and not args.prototxt:
        parser.error("--weights needs --prototxt")
    return args


def main(argv=None):
    """Write one golden file per selected case."""
    args = parse_args(argv)
    caffe.set_mode_cpu()
    out = os.path.abspath(args.out)  # a data-layer case changes the cwd
    os.makedirs(out, exist_ok=True)
    model_dir = args.caffemodel_dir and os.path.abspath(args.caffemodel_dir)
    if model_dir:
        os.makedirs(model_dir, exist_ok=True)
    for spec in golden_cases.selected(args):
        if args.weights:
            spec["weights"] = os.path.abspath(args.weights)
        path = golden_cases.prototxt_path(spec)
        if not os.path.exists(path) and args.prototxt_from:
            stored = os.path.join(os.path.abspath(args.prototxt_from),
                                  os.path.dirname(golden_cases.golden_file(spec)))
            path = stored_prototxt(stored, spec["name"], out)
        out_path = os.path.join(out, golden_cases.golden_file(spec))
        os.makedirs(os.path.dirname(out_path), exist_ok=True)
        cleanup = write_case(spec, path, out_path, model_dir)
        if cleanup:
            cleanup()  # after write_case: its net (and data threads) are gone
        print("wrote %s" % out_path, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
