#!/usr/bin/env python3
"""Run one command and record its wall time, CPU time and peak RSS (of the child and its children).

Usage: measure.py OUT.json -- CMD [ARGS...]
Writes {"cmd", "rc", "wall_seconds", "user_seconds", "sys_seconds", "cpu_seconds", "peak_rss_mib"}
to OUT.json and exits with the command's exit code. stdout/stderr of CMD pass through.
Peak RSS is ru_maxrss from wait4 (the largest resident set of the process; Linux reports KiB).
"""
import json
import os
import subprocess
import sys
import time


def main() -> int:
    if len(sys.argv) < 4 or sys.argv[2] != "--":
        print(__doc__, file=sys.stderr)
        return 2
    out, cmd = sys.argv[1], sys.argv[3:]
    t0 = time.perf_counter()
    try:
        proc = subprocess.Popen(cmd)
    except OSError as e:
        print(f"measure.py: cannot run {cmd[0]}: {e}", file=sys.stderr)
        return 127
    _, status, ru = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    rc = os.waitstatus_to_exitcode(status)
    proc.returncode = rc  # reaped by wait4 above
    with open(out, "w") as f:
        json.dump(
            {
                "cmd": cmd,
                "rc": rc,
                "wall_seconds": wall,
                "user_seconds": ru.ru_utime,
                "sys_seconds": ru.ru_stime,
                "cpu_seconds": ru.ru_utime + ru.ru_stime,
                "peak_rss_mib": ru.ru_maxrss / 1024.0,
            },
            f,
            indent=2,
        )
    return rc


if __name__ == "__main__":
    sys.exit(main())
