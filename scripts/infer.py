#!/usr/bin/env python3
"""Run a trained job on pair images or grayscale digits: `siamese-caffe infer` as a script.

    scripts/infer.py --job jobs/<job_id> siamesedb/val_test_same_class_0.png
    scripts/infer.py --job jobs/<job_id> digit.png --json --visualize vis
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from siamese_caffe import cli  # noqa: E402

if __name__ == "__main__":
    sys.exit(cli.run_script("infer", __file__))
