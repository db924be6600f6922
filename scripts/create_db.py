#!/usr/bin/env python3
"""DIGITS' examples/siamese/create_db.py, on this package:

    python scripts/create_db.py siamesedb train.txt -c 100000

Same arguments (FOLDER FILE_LIST [-c COUNT]) plus every option of
`siamese-caffe create-db` (see --help).
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))

from siamese_caffe import cli  # noqa: E402

if __name__ == "__main__":
    sys.exit(cli.run_script("create-db", __file__))
