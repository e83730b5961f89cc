#!/usr/bin/env python3
"""Where a process's peak resident set comes from: anonymous memory vs mapped files.

Usage: rss_breakdown.py [--interval-ms 5] -- CMD [ARGS...]

Runs CMD and samples /proc/<pid>/status (RssAnon, RssFile, RssShmem, VmRSS) of it and of its
descendants every interval; prints one JSON object with the largest value of each, per process
name and in total at the sampled peak. ru_maxrss (what bench/lib/measure.py reports) counts
file-backed pages too: for a large binary with debug line tables, or a JVM's mapped jars, that
part is not memory the program allocated. An investigation aid for BENCHMARKS.md's memory notes,
not part of the driver. Sampling can miss a peak shorter than the interval.
"""

import json
import subprocess
import sys
import time

FIELDS = ("VmRSS", "RssAnon", "RssFile", "RssShmem", "VmHWM")


def status(pid: int) -> dict | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            out = {}
            for line in f:
                k, _, v = line.partition(":")
                if k in FIELDS or k == "Name":
                    out[k] = v.strip() if k == "Name" else int(v.split()[0]) / 1024.0
            return out
    except OSError:
        return None


def children(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/task/{p}/children") as f:
                kids = [int(x) for x in f.read().split()]
        except OSError:
            kids = []
        out += kids
        todo += kids
    return out


def main() -> int:
    args = sys.argv[1:]
    interval = 0.005
    if args[:1] == ["--interval-ms"]:
        interval, args = float(args[1]) / 1000.0, args[2:]
    if not args or args[0] != "--" or len(args) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    proc = subprocess.Popen(args[1:])
    peak_total, at_peak, per_name, peak_at = 0.0, {}, {}, None
    timeline = []  # (seconds since start, total VmRSS MiB), every 0.1 s
    while proc.poll() is None:
        snap = {}
        for p in [proc.pid] + children(proc.pid):
            s = status(p)
            if s:
                snap[p] = s
                best = per_name.setdefault(s.get("Name", "?"), {k: 0.0 for k in FIELDS})
                for k in FIELDS:
                    best[k] = max(best[k], s.get(k, 0.0))
        total = sum(s.get("VmRSS", 0.0) for s in snap.values())
        now = time.perf_counter() - t0
        if not timeline or now - timeline[-1][0] >= 0.1:
            timeline.append((round(now, 2), round(total, 1)))
        if total > peak_total:
            peak_total, peak_at = total, now
            at_peak = {k: sum(s.get(k, 0.0) for s in snap.values()) for k in FIELDS if k != "VmHWM"}
        time.sleep(interval)
    print(json.dumps({"cmd": args[1:], "rc": proc.returncode, "peak_total_vmrss_mib": peak_total,
                      "peak_at_seconds": peak_at,
                      "at_peak_mib": at_peak, "max_per_process_name_mib": per_name,
                      "timeline_seconds_mib": timeline}))
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
