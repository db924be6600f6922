#!/usr/bin/env python3
"""Train a siamese network on a create-db dataset: `siamese-caffe train` as a script.

    scripts/train.py siamesedb --epochs 10        # new job in jobs/<job_id>/
    scripts/train.py --resume jobs/<job_id>       # continue it
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from siamese_caffe import cli  # noqa: E402

if __name__ == "__main__":
    sys.exit(cli.run_script("train", __file__))
