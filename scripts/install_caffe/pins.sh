# shellcheck shell=bash
# Sourced by install_caffe.sh: what is built, pinned. Changing a version or a sum here
# changes the Caffe cache key (cache_key.sh), so the next run builds a new entry.

# BVLC master of 2018-08-21 plus Debian's patches (OpenCV 4, python3, CMake).
CAFFE_SOURCE_PACKAGE=caffe
CAFFE_DEBIAN_VERSION=1.0.0+git20180821.99bd997-8
CAFFE_SOURCE_SUITE=bullseye            # the Debian suite whose deb-src carries it
DSC_SHA256=c492f4893fc1ba1fb514b2d9b4763bc78dc93571ea24adc6e604eccbb93cdd64
ORIG_SHA256=e0eb3f06794f7402c77b7dec8e8480273ee1a1bb192e9122b621a69d4147ad0c
DEBIAN_SHA256=07cf073227494a6b07234e40cb5df91db566616593eef9baafdc4d06ad159f21

# --blas openblas-native (the CPU default): Debian's OpenBLAS source, compiled for this
# machine's CPU (its widest kernel set; a DYNAMIC_ARCH OpenBLAS takes $OPENBLAS_CORETYPE).
OPENBLAS_SOURCE_PACKAGE=openblas
OPENBLAS_DEBIAN_VERSION=0.3.21+ds-4
OPENBLAS_SOURCE_SUITE=bookworm
OPENBLAS_DSC_SHA256=2faed37b360c6d2a31e82032f8278d29bbec19d99425de2ce501614dff4e5880
OPENBLAS_ORIG_SHA256=bbec5cca61c8033b2d57aaecde205d709323a0b35a5f193290081dbb3826848a
OPENBLAS_DEBIAN_SHA256=cb8ded6f29379c6a720ce3e7b62f9884419c7d3ba66e49184a3c09272af2065b

# --blas mkl: Intel MKL from PyPI (mkl, mkl-include), unpacked into the cache.
MKL_VERSION=2025.3.0
MKL_WHEEL_SHA256=7b81f5d2e034637b187ca58666878c4e8889988a78e39e0b6ee92e846568f660
MKL_INCLUDE_WHEEL_SHA256=8fd38f51f543ce7031cf454a199529986277eeaf5b0e6a9ff8bbe27757b017e6
