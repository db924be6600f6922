#!/usr/bin/env python3
"""Run a trained job on every image of a list, batched: `siamese-caffe infer-many` as a script.

    scripts/infer_many.py --job jobs/<job_id> mnist/val.txt -o predictions.csv
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from siamese_caffe import cli  # noqa: E402

if __name__ == "__main__":
    sys.exit(cli.run_script("infer-many", __file__))
