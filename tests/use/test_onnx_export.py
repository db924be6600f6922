"""`export --onnx`: the shared branch as ONNX, equal to pycaffe in onnxruntime and in
OpenCV's DNN module; the layer translations on edited networks; refusals."""

import json
import os

import cv2
import numpy as np
import onnx
import pytest

from siamese_caffe.errors import BadInputError
from siamese_caffe.infer import embedding
from siamese_caffe.runtime import prototxt
from siamese_caffe.use import digits, onnx_check, onnx_export


@pytest.fixture
def images(digit_pngs, tiny_job):
    folder, _, entries = digit_pngs
    return digits.read_digits([os.path.join(folder, name) for name, _ in entries],
                              tiny_job.image_shape)


def opencv_outputs(path, inputs):
    """The model's outputs in OpenCV's DNN module: {output name: array}."""
    net = cv2.dnn.readNetFromONNX(str(path))
    names = net.getUnconnectedOutLayersNames()
    for name, value in inputs.items():
        net.setInput(value, name)
    return dict(zip(names, net.forward(names)))


def test_export_matches_pycaffe_in_onnxruntime_and_opencv(cli, job_copy, images, tmp_path):
    path = tmp_path / "model.onnx"
    done = cli("export", "--job", job_copy.path, "--onnx", path, "--json")
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["checker"] == "passed" and answer["inputs"] == ["pixels"]
    assert answer["outputs"] == ["feature"] and answer["onnxruntime_max_abs_difference"] < 1e-5
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    assert model.producer_name == "siamese-caffe"
    assert {p.key: p.value for p in model.metadata_props}["snapshot"] == "40"
    expected = embedding.Embedder(job_copy).embed_digits(images)
    (runtime,) = onnx_check.onnxruntime_features(str(path), images)
    assert runtime.shape == (20, 2) and np.abs(runtime - expected).max() < 1e-5
    opencv = opencv_outputs(path, {"pixels": onnx_check.as_pixels(images)})
    assert np.abs(opencv["feature"].reshape(20, 2) - expected).max() < 1e-5


def test_pair_model_gives_both_features_and_their_distance(cli, job_copy, images, tmp_path):
    path = tmp_path / "pair.onnx"
    done = cli("export", "--job", job_copy.path, "--snapshot", "20", "--onnx", path, "--pair")
    assert done.returncode == 0, done.stderr
    assert "inputs pixels_a, pixels_b -> outputs feature_a, feature_b, distance" in done.stdout
    first, second = images[:10], images[10:]
    a, b, gap = onnx_check.onnxruntime_features(str(path), first, second)
    embedder = embedding.Embedder(job_copy, 20)
    want_a, want_b = embedder.embed_digits(first), embedder.embed_digits(second)
    assert np.abs(a - want_a).max() < 1e-5 and np.abs(b - want_b).max() < 1e-5
    assert np.abs(gap - np.linalg.norm(want_a - want_b, axis=1)).max() < 1e-5
    opencv = opencv_outputs(path, {"pixels_a": onnx_check.as_pixels(first),
                                   "pixels_b": onnx_check.as_pixels(second)})
    assert np.abs(opencv["distance"].ravel() - gap).max() < 1e-5


VARIANT = """
name: "variant"
layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: 1 dim: 13 dim: 13 } } }
layer { name: "scale" type: "Power" bottom: "data" top: "scaled"
        power_param { scale: 0.02 shift: -0.5 } }
layer { name: "conv" type: "Convolution" bottom: "scaled" top: "conv"
        convolution_param { num_output: 4 kernel_size: 3 pad: 1 stride: 2
                            weight_filler { type: "gaussian" std: 0.5 }
                            bias_filler { type: "gaussian" std: 0.5 } } }
layer { name: "leaky" type: "ReLU" bottom: "conv" top: "conv" relu_param { negative_slope: 0.1 } }
layer { name: "split" type: "Split" bottom: "conv" top: "c1" top: "c2" }
layer { name: "squash" type: "TanH" bottom: "c1" top: "t" }
layer { name: "gate" type: "Sigmoid" bottom: "c2" top: "s" }
layer { name: "mix" type: "Eltwise" bottom: "t" bottom: "s" top: "mix"
        eltwise_param { operation: SUM coeff: 1 coeff: -2 } }
layer { name: "both" type: "Concat" bottom: "mix" bottom: "t" top: "both" }
layer { name: "pool" type: "Pooling" bottom: "both" top: "pool"
        pooling_param { pool: MAX kernel_size: 2 stride: 2 } }
layer { name: "avg" type: "Pooling" bottom: "pool" top: "avg"
        pooling_param { pool: AVE kernel_size: 2 stride: 2 } }
layer { name: "drop" type: "Dropout" bottom: "avg" top: "avg" }
layer { name: "flat" type: "Flatten" bottom: "avg" top: "flat" }
layer { name: "feat" type: "InnerProduct" bottom: "flat" top: "feat"
        inner_product_param { num_output: 3 weight_filler { type: "gaussian" std: 0.5 }
                              bias_filler { type: "gaussian" std: 0.5 } } }
"""


def variant_model(net_from_text, tmp_path, text):
    net = net_from_text(text)
    path = tmp_path / "variant.prototxt"
    path.write_text(text)
    mean = np.full((1, 13, 13), 20.0, np.float32)
    model = onnx_export.branch_model(net, prototxt.read_net(str(path)), "data", "feat", mean,
                                     where=str(path))
    return net, model, mean


def test_every_translated_layer_type_matches_caffe(net_from_text, tmp_path):
    net, model, mean = variant_model(net_from_text, tmp_path, VARIANT)
    onnx.checker.check_model(model, full_check=True)
    pixels = np.random.default_rng(3).integers(0, 256, (5, 1, 13, 13)).astype(np.float32)
    net.blobs["data"].reshape(*pixels.shape)
    net.reshape()
    net.blobs["data"].data[...] = pixels - mean
    expected = net.forward()["feat"].copy()
    path = tmp_path / "variant.onnx"
    onnx.save_model(model, str(path))
    (runtime,) = onnx_check.session(str(path)).run(None, {"pixels": pixels})
    assert np.abs(runtime - expected).max() < 1e-5
    opencv = opencv_outputs(path, {"pixels": pixels})
    assert np.abs(opencv["feature"] - expected).max() < 1e-5


def test_an_unknown_layer_type_is_refused_naming_its_line(net_from_text, tmp_path):
    text = VARIANT.replace('layer { name: "drop" type: "Dropout"', 'layer { name: "drop" type: "BNLL"')
    with pytest.raises(BadInputError) as refused:
        variant_model(net_from_text, tmp_path, text)
    line = text.splitlines().index(next(l for l in text.splitlines() if '"BNLL"' in l)) + 1
    assert str(refused.value).startswith(f"{tmp_path / 'variant.prototxt'}:{line}: layer 'drop' "
                                         "has type 'BNLL', which the ONNX exporter does not "
                                         "translate (it knows ")


def test_an_unknown_layer_in_a_jobs_network_is_one_line(cli, job_copy, tmp_path):
    deploy = job_copy.deploy_path
    text = open(deploy).read()
    anchor = text.index('layer {\n  name: "ip2_left"')
    extra = ('layer {\n  name: "bnll_left"\n  type: "BNLL"\n  bottom: "ip1_left"\n'
             '  top: "ip1_left"\n}\n')
    with open(deploy, "w") as f:
        f.write(text[:anchor] + extra + text[anchor:])
    line_number = text[:anchor].count("\n") + 1
    path = tmp_path / "model.onnx"
    line = cli("export", "--job", job_copy.path, "--onnx", path).error_line("export")
    assert line.startswith(f"siamese-caffe export: error: {deploy}:{line_number}: layer "
                           "'bnll_left' has type 'BNLL'")
    assert not path.exists()


def test_outputs_are_never_replaced_unless_made_here(cli, job_copy, tmp_path):
    other = tmp_path / "other.onnx"
    other.write_text("someone else's file")
    assert "already exists (use --force" in cli("export", "--job", job_copy.path, "--onnx",
                                                other).error_line("export")
    line = cli("export", "--job", job_copy.path, "--onnx", other, "--force").error_line("export")
    assert line.endswith(f"{other}: exists and is not an ONNX model siamese-caffe wrote; "
                         "--force replaces only those")
    assert other.read_text() == "someone else's file"
    mine = tmp_path / "mine.onnx"
    assert cli("export", "--job", job_copy.path, "--onnx", mine).returncode == 0
    assert cli("export", "--job", job_copy.path, "--onnx", mine, "--force").returncode == 0
    line = cli("export", "--job", job_copy.path).error_line("export")
    assert line.endswith("say what to write: --onnx FILE or -o FILE (one of them)")
