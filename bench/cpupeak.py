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

The nominal clock is not the clock a busy core runs at: a VM's cpuinfo says 2.6 GHz
where the cores boost to 4 GHz and more. `detect(measure=True)` therefore also times
the FMA peak itself — a C loop of independent vector FMAs (the widest the flags
announce), compiled here with gcc and run on every core — and `reference_gflops`
is that measurement when there is one (the estimate otherwise).
"""

import os
import subprocess
import tempfile
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
    measured_gflops: float = None    # the FMA loop's rate on all cores (measure=True)

    @property
    def flop_per_cycle(self):
        """fp32 FLOP per cycle of one core."""
        return self.fma_units * self.lanes * 2

    @property
    def gflops(self):
        return self.cores * self.ghz * self.flop_per_cycle

    @property
    def reference_gflops(self):
        """The peak a measured FLOP/s is put against: measured if timed, else estimated."""
        return self.measured_gflops or self.gflops

    def explain(self):
        nominal = (f"{self.cores} cores x {self.ghz:.2f} GHz x {self.fma_units} FMA units x "
                   f"{self.lanes} fp32 lanes x 2 = {self.gflops:.0f} GFLOP/s")
        if self.measured_gflops:
            return (f"{self.model}: measured {self.measured_gflops:.0f} GFLOP/s (an FMA loop "
                    f"on {self.cores} cores; nominal clock: {nominal})")
        return f"{self.model}: {nominal}"


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


def detect(cores=None, cpuinfo_path=CPUINFO, measure=False):
    """CpuPeak of this machine; cores defaults to the CPUs this process may run on.
    measure: also time the FMA peak (measured_gflops; None where gcc or FMA is missing)."""
    with open(cpuinfo_path) as f:
        fields = parse_cpuinfo(f.read())
    units, lanes = vector_units(fields)
    if cores is None:
        cores = len(os.sched_getaffinity(0))
    measured = measure_fma_gflops(fields, cores) if measure else None
    return CpuPeak(model=fields.get("model name", "unknown CPU"), cores=cores,
                   ghz=clock_ghz(fields), fma_units=units, lanes=lanes,
                   measured_gflops=measured)


# Twelve independent FMA chains per thread (more than latency x units on any x86 core),
# each FMA a whole vector register; prints the GFLOP/s of all threads together.
FMA_LOOP_C = r"""
#include <immintrin.h>
#include <omp.h>
#include <stdio.h>
#ifdef __AVX512F__
typedef __m512 vec;
#define LANES 16
#define SET1 _mm512_set1_ps
#define FMA _mm512_fmadd_ps
#define SUM(v) _mm512_reduce_add_ps(v)
#else
typedef __m256 vec;
#define LANES 8
#define SET1 _mm256_set1_ps
#define FMA _mm256_fmadd_ps
static float SUM(__m256 v) { float x[8]; _mm256_storeu_ps(x, v); return x[0] + x[7]; }
#endif
int main(void) {
  const long iterations = 40000000;
  double best = 0;
  float total = 0;
  for (int repeat = 0; repeat < 3; ++repeat) {
    double start = omp_get_wtime();
    #pragma omp parallel reduction(+:total)
    {
      vec a[12], b = SET1(1.0000001f), c = SET1(1e-7f);
      for (int i = 0; i < 12; ++i) a[i] = SET1((float)i);
      for (long k = 0; k < iterations; ++k) {
        #pragma GCC unroll 12
        for (int i = 0; i < 12; ++i) a[i] = FMA(a[i], b, c);
      }
      for (int i = 0; i < 12; ++i) total += SUM(a[i]);
    }
    double seconds = omp_get_wtime() - start;
    double rate = 2.0 * LANES * 12 * iterations * omp_get_max_threads() / seconds / 1e9;
    if (rate > best) best = rate;
  }
  printf("%.1f %g\n", best, total);
  return 0;
}
"""


def measure_fma_gflops(fields, cores, compiler="gcc"):
    """The FMA loop's GFLOP/s on `cores` threads, or None (no FMA flag, no compiler)."""
    flags = set(fields.get("flags", "").split())
    if "fma" not in flags or "avx2" not in flags:
        return None
    isa = ["-mavx512f"] if "avx512f" in flags else ["-mavx2", "-mfma"]
    with tempfile.TemporaryDirectory() as folder:
        source, program = os.path.join(folder, "fma.c"), os.path.join(folder, "fma")
        with open(source, "w") as f:
            f.write(FMA_LOOP_C)
        try:
            subprocess.run([compiler, "-O2", "-fopenmp", *isa, source, "-o", program],
                           check=True, capture_output=True)
            ran = subprocess.run([program], check=True, capture_output=True, text=True,
                                 env=dict(os.environ, OMP_NUM_THREADS=str(cores)))
        except (OSError, subprocess.CalledProcessError):
            return None
    return float(ran.stdout.split()[0])
