"""The FMA peak estimate bench/train.py prints next to the measured GFLOP/s."""

import cpupeak

ZEN4 = """processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 25
model\t\t: 17
model name\t: AMD EPYC 9R14
cpu MHz\t\t: 2596.000
flags\t\t: fpu sse sse2 avx fma avx2 avx512f avx512bw

processor\t: 1
vendor_id\t: AuthenticAMD
"""

SKYLAKE_SP = ZEN4.replace("AuthenticAMD", "GenuineIntel").replace("cpu family\t: 25",
                                                                  "cpu family\t: 6")


def write(tmp_path, text):
    path = tmp_path / "cpuinfo"
    path.write_text(text)
    return str(path)


def test_zen4_runs_avx512_on_256_bit_units(tmp_path):
    peak = cpupeak.detect(cores=2, cpuinfo_path=write(tmp_path, ZEN4))
    assert (peak.fma_units, peak.lanes, peak.flop_per_cycle) == (2, 8, 32)
    assert peak.model == "AMD EPYC 9R14"
    assert round(peak.gflops) == round(2 * 2.596 * 32)
    assert peak.explain().endswith("= 166 GFLOP/s")


def test_intel_avx512_counts_16_lanes(tmp_path):
    peak = cpupeak.detect(cores=4, cpuinfo_path=write(tmp_path, SKYLAKE_SP))
    assert peak.flop_per_cycle == 64


def test_a_cpu_without_fma_counts_one_multiply_and_one_add_per_lane(tmp_path):
    text = ZEN4.replace(" fma avx2 avx512f avx512bw", "")
    peak = cpupeak.detect(cores=1, cpuinfo_path=write(tmp_path, text))
    assert peak.flop_per_cycle == 8



def test_the_measured_peak_is_what_bench_puts_figures_against():
    peak = cpupeak.detect(measure=True)        # this machine: x86-64 with AVX2, gcc present
    assert peak.measured_gflops > 0
    assert peak.reference_gflops == peak.measured_gflops
    assert peak.explain().startswith(f"{peak.model}: measured {peak.measured_gflops:.0f} GFLOP/s")
    assert f"= {peak.gflops:.0f} GFLOP/s" in peak.explain()     # the estimate beside it


def test_without_fma_nothing_is_timed_and_the_estimate_stands(tmp_path):
    text = ZEN4.replace(" fma avx2 avx512f avx512bw", "")
    peak = cpupeak.detect(cores=1, cpuinfo_path=write(tmp_path, text), measure=True)
    assert peak.measured_gflops is None and peak.reference_gflops == peak.gflops
