"""The single-precision FMA peak of the CPU this process runs on, from /proc/cpuinfo.

    peak FLOP/s = cores x clock x FMA units per core x fp32 lanes per unit x 2

Lanes come from the widest vector FMA the flags announce (AVX-512: 16, AVX2 + FMA: 8,
otherwise SSE: 4, no FMA: counted as 1 unit doing a multiply and an add). Two FMA
units per core is what every x86 core with FMA since Haswell / Zen 2 has; AMD's
Zen 3 and Zen 4 (family 0x19) carry out AVX-512 on 256-bit units, so there the
lanes are 8. The clock is the highest the kernel reports (cpufreq's maximum, else
the "cpu MHz" of /proc/cpuinfo, which in a VM is usually the nominal clock). The
result is an estimate to put a measured FLOP/s in proportion, and says how it was
reached (`CpuPeak.explain()`).
"""

import os
from dataclasses import dataclass

CPUINFO = "/proc/cpuinfo"
CPUFREQ_MAX = "/sys/devices/system/cpu/cpu{}/cpufreq/cpuinfo_max_freq"


@dataclass(frozen=True)
class CpuPeak:
    """An FMA peak estimate: cores x ghz x units x lanes x 2 (fp32 FLOP/s)."""

    model: str
    cores: int
    ghz: float
    fma_units: int
    lanes: int

    @property
    def flop_per_cycle(self):
        """fp32 FLOP per cycle of one core."""
        return self.fma_units * self.lanes * 2

    @property
    def gflops(self):
        return self.cores * self.ghz * self.flop_per_cycle

    def explain(self):
        return (f"{self.model}: {self.cores} cores x {self.ghz:.2f} GHz x "
                f"{self.fma_units} FMA units x {self.lanes} fp32 lanes x 2 = "
                f"{self.gflops:.0f} GFLOP/s")


def parse_cpuinfo(text):
    """The first processor block of /proc/cpuinfo text as {field: value}."""
    fields = {}
    for line in text.splitlines():
        if not line.strip():
            if fields:
                break
            continue
        key, _, value = line.partition(":")
        fields[key.strip()] = value.strip()
    return fields


def vector_units(fields):
    """(FMA units per core, fp32 lanes per unit) from a cpuinfo block's vendor and flags."""
    flags = set(fields.get("flags", "").split())
    if "fma" not in flags:
        return 1, 4 if "sse" in flags else 1
    lanes = 16 if "avx512f" in flags else 8
    amd_256bit = (fields.get("vendor_id") == "AuthenticAMD"
                  and fields.get("cpu family", "") == "25")
    if amd_256bit:
        lanes = min(lanes, 8)
    return 2, lanes


def clock_ghz(fields, cpu=0):
    """The highest clock the kernel reports for `cpu`, in GHz."""
    try:
        with open(CPUFREQ_MAX.format(cpu)) as f:
            return int(f.read().strip()) / 1e6
    except (OSError, ValueError):
        return float(fields.get("cpu MHz", "0") or 0) / 1e3


def detect(cores=None, cpuinfo_path=CPUINFO):
    """CpuPeak of this machine; cores defaults to the CPUs this process may run on."""
    with open(cpuinfo_path) as f:
        fields = parse_cpuinfo(f.read())
    units, lanes = vector_units(fields)
    if cores is None:
        cores = len(os.sched_getaffinity(0))
    return CpuPeak(model=fields.get("model name", "unknown CPU"), cores=cores,
                   ghz=clock_ghz(fields), fma_units=units, lanes=lanes)
