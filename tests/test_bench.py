"""scripts/bench.py runs end to end and reports every figure the speed targets are judged by.

Only that the figures exist and are sane is checked: benchmarks are not timed tests.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PER_CONFIG = ("non_stream_rps", "non_stream_ratio", "non_stream_cpu_ms", "non_stream_cpu_vs_bare", "stream_rps",
              "stream_ratio", "stream_cpu_ms", "p50_ms", "p99_ms", "ttfc_p50_ms", "rss_idle_mb", "rss_streams_mb")


def test_bench_quick_run_reports_ratios_cpu_latency_memory_and_start(tmp_path):
    out = tmp_path / "bench.json"
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "bench.py"), "--seconds", "0.5", "--quick",
                             "--json", str(out)], capture_output=True, text=True, timeout=300,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(out.read_text())
    for config in ("default", "tuned"):
        figures = report[config]
        for key in PER_CONFIG:
            assert isinstance(figures[key], float), (config, key)
        assert figures["non_stream_rps"] > 0 and figures["stream_rps"] > 0
        assert figures["non_stream_cpu_ms"] > 0 and figures["rss_idle_mb"] > 10
        assert figures["non_stream_cpu_vs_bare"] > 0
        assert figures["streams_open"] == 100
    assert report["bare"]["non_stream_rps"] > 0 and report["bare"]["non_stream_cpu_ms"] > 0
    assert all(isinstance(report["bare"][key], float) for key in ("p50_ms", "p99_ms", "ttfc_p50_ms"))  # the floor
    assert 0 < report["start_s"] < 60 and 0 < report["start_cpu_s"] < 60
    for label in ("ratio to bare", "CPU ms per request", "bare proxy's", "added p50 ms", "added p99 ms", "first chunk",
                  "RSS MB idle", "slow streams", "first answered request"):
        assert label in result.stdout


def test_bench_workers_run_reports_one_worker_against_two(tmp_path):
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "bench.py"), "--seconds", "0.5", "--workers",
                             "2"], capture_output=True, text=True, timeout=300,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = {line.split("req/s")[0].strip(): line.split("req/s")[1].split()[:3]
            for line in result.stdout.splitlines() if "req/s" in line}
    for mode in ("non-stream", "stream"):
        one, two, ratio = (float(cell) for cell in rows[mode])
        assert one > 0 and two > 0 and abs(ratio - two / one) < 0.02 + ratio * 0.02
