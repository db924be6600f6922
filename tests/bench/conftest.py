"""The benchmarks' own modules (bench/cpupeak.py, bench/netflops.py) import as plain modules."""

import os
import sys

import project_paths

sys.path.insert(0, os.path.join(project_paths.ROOT, "bench"))
