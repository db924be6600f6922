"""Run an unpacked model bundle with plain pycaffe, as someone without siamese-caffe would.

    python run_unpacked_bundle.py BUNDLE_FOLDER IMAGE [IMAGE ...]

Reads only the bundle's own files — info.json, deploy.prototxt, the .caffemodel and
the mean .binaryproto (through caffe.io) — and prints JSON: one {"image", "left",
"right", "distance"} per image. An RGB image is a pair picture (blue = first digit,
green = second); a grayscale one a single digit, replicated. Never imports siamese_caffe
(it exits 3 if that got loaded somehow).
"""

import json
import os
import sys

import caffe
import numpy as np
from PIL import Image


def load(folder):
    with open(os.path.join(folder, "info.json")) as f:
        info = json.load(f)
    caffe.set_mode_cpu()
    net = caffe.Net(os.path.join(folder, info["deploy file"]), caffe.TEST,
                    weights=os.path.join(folder, info["snapshot file"]))
    blob = caffe.proto.caffe_pb2.BlobProto()
    with open(os.path.join(folder, info["mean file"]), "rb") as f:
        blob.ParseFromString(f.read())
    mean = caffe.io.blobproto_to_array(blob)[0].astype(np.float32)    # (3, H, W)
    return info, net, mean


def net_input(path, mean):
    pixels = np.asarray(Image.open(path))
    if pixels.ndim == 2:                        # one digit: into all three channels
        digit_mean = (mean[0] + mean[1]) / 2
        return np.stack([pixels] * 3).astype(np.float32) - digit_mean
    blue, green, red = pixels[..., 2], pixels[..., 1], pixels[..., 0]
    return np.stack([blue, green, red]).astype(np.float32) - mean


def main(folder, images):
    info, net, mean = load(folder)
    inputs = np.stack([net_input(path, mean) for path in images])
    data = net.blobs[info["input blob"]]
    data.reshape(*inputs.shape)
    net.reshape()
    data.data[...] = inputs
    net.forward()
    left_name, right_name = info["feature blobs"]
    left = net.blobs[left_name].data.reshape(len(images), -1)
    right = net.blobs[right_name].data.reshape(len(images), -1)
    results = [{"image": path, "left": left[k].tolist(), "right": right[k].tolist(),
                "distance": float(np.linalg.norm(left[k].astype(np.float64) - right[k]))}
               for k, path in enumerate(images)]
    if any(name.split(".")[0] == "siamese_caffe" for name in sys.modules):
        return 3
    json.dump(results, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2:]))
