"""The long run of the torture suite (issue 11), with its figures as a table.

Runs ``tests/torture`` with every loop scaled up (``HUMELAB_TORTURE_SCALE``, default
10 here; CI runs scale 1 in about a minute) and sums what each test recorded: kills
survived, requests fuzzed, hostile inputs tried, faults injected, and lost,
duplicated and 5xx answers (all must be 0).

    python bench/torture_long.py              # scale 10, about 20 minutes on 2 cores
    python bench/torture_long.py --scale 30   # longer
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=10.0)
    ap.add_argument("pytest_args", nargs="*", help="extra pytest arguments")
    args = ap.parse_args()
    report = Path(tempfile.mkdtemp()) / "torture.jsonl"
    env = dict(
        os.environ,
        HUMELAB_TORTURE_SCALE=str(args.scale),
        HUMELAB_TORTURE_REPORT=str(report),
    )
    t0 = time.monotonic()
    rc = subprocess.call(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rx",
         "--timeout", "7200", "tests/torture", *args.pytest_args],
        cwd=ROOT, env=env,
    )  # fmt: skip
    took = time.monotonic() - t0
    rows = [json.loads(line) for line in report.read_text().splitlines()]
    total = {
        "kills survived": 0,
        "jobs acknowledged across kills": 0,
        "requests fuzzed": 0,
        "hostile inputs tried": 0,
        "faults injected": 0,
        "client submissions through faults": 0,
        "concurrent clients": 0,
        "lost": 0,
        "duplicated": 0,
        "5xx": 0,
        "client: identical concurrent submits beyond one job": 0,
    }
    escaped: dict = {}
    for r in rows:
        s = r["section"]
        if s == "kill-restart":
            total["kills survived"] += r["kills_survived"]
            total["jobs acknowledged across kills"] += r["jobs_acknowledged"]
            total["lost"] += r["lost"] or 0
            total["duplicated"] += r["duplicated"] or 0
        elif s == "fuzz":
            total["requests fuzzed"] += r["requests_fuzzed"]
            total["5xx"] += r["server_errors"]
        elif s.startswith("hostile"):
            total["hostile inputs tried"] += r["hostile_inputs"]
        elif s == "fault-proxy":
            total["faults injected"] += r["faults_injected"]
            total["client submissions through faults"] += r["submissions"]
            for k, v in r["escaped"].items():
                escaped[k] = escaped.get(k, 0) + v
        elif s == "fault-proxy-service":
            total["duplicated"] += r["duplicated"]
        elif s == "concurrency":
            total["concurrent clients"] += r["clients"]
            key = "client: identical concurrent submits beyond one job"
            total[key] += r["duplicated_same_request"]
    print(f"\ntorture suite at scale {args.scale:g}: {took / 60:.1f} min, exit {rc}")
    print("| figure | value |\n|---|---|")
    for k, v in total.items():
        print(f"| {k} | {v} |")
    if escaped:
        print(f"exceptions escaping the client: {escaped}")
    print(f"(raw figures: {report})")
    return rc


if __name__ == "__main__":
    sys.exit(main())
