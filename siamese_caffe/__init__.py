"""siamese-caffe: DIGITS' Siamese MNIST workflow on real (py)Caffe.

The package follows the data flow, one subpackage per stage; a stage imports only from
the stages before it:

    runtime/   finding and importing Caffe, its log, devices, prototxt files, child probes
    data/      image sources, lists, idx files, pairs, Datum records, LMDBs, means: create-db
    net/       the network check, wrapping with Data layers, drawing, the solver
    train/     job folders, the training loop, its log and loss plot
    infer/     embeddings of images, predictions of lists, visualizations, cluster plots
    evaluate/  pair and neighbour metrics and the report
    use/       the trained twin at work: verify two images, galleries (FAISS), ONNX export
    serve/     DIGITS' REST routes and pages

cli.py and commands/ (one module per subcommand), errors.py and demo.py sit on top.
"""

import os

__version__ = "0.1.0"

# The folder holding this package: a checkout's root (with prototxt/) in development.
PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
