#!/usr/bin/python3
"""One output file of the soak, read once: its records counted by type, the in-band `lost`
records, the start and summary records, and the gaps in the syscall records' wall
timestamps (`ts`). soak.py runs it on every rotated file as soon as the logger has let go of
it (a niced subprocess, so the load keeps the CPUs), and on the last file after the logger
exits.

    scan.py FILE [--delete]      prints one JSON object; --delete removes FILE afterwards

Syscall lines are not parsed as JSON one by one (a storm writes millions): the logger
writes them with a fixed prefix, `{"v":2,"type":"syscall","ts":"` and the 30-byte
timestamp, so a line is counted by its prefix and its `ts` sliced out. Each of the first
VALIDATE_HEAD lines, every VALIDATE_EVERY-th syscall line and the syscall lines of the last
64 KiB are parsed in full; every other line (start, lost, summary, or a syscall line that does not
have the usual prefix) is parsed as JSON. A line that does not parse, or a syscall line
whose `ts` is not where the prefix says, is counted as bad.

Gaps: records come out of the ring buffer in reservation order, which is time order only up
to small inversions between CPUs, so a gap is measured from the latest `ts` seen so far.
Only a record in a different 100 ms bucket (`...:SS.d`) than the line before it can start a
gap of 0.1 s or more; those are computed exactly and every gap > GAP_MIN_S is kept.
"""
import datetime
import json
import os
import sys

PREFIX = b'{"v":2,"type":"syscall","ts":"'
TS_AT = len(PREFIX)
TS_LEN = len("2026-11-30T01:09:17.534861054Z")
BUCKET_LEN = len("2026-11-30T01:09:17.5")
GAP_MIN_S = 0.1
VALIDATE_HEAD = 100
VALIDATE_EVERY = 10_000
TAIL_BYTES = 65_536
EPOCH = datetime.date(1970, 1, 1).toordinal()
_days = {}


def ts_ns(ts):
    """RFC 3339 UTC with nanoseconds, as the logger writes it (bytes or str) -> ns since epoch."""
    if isinstance(ts, str):
        ts = ts.encode()
    day = ts[:10]
    d = _days.get(day)
    if d is None:
        d = datetime.date(int(day[:4]), int(day[5:7]), int(day[8:10])).toordinal() - EPOCH
        _days[day] = d
    secs = d * 86400 + int(ts[11:13]) * 3600 + int(ts[14:16]) * 60 + int(ts[17:19])
    frac = ts[20:-1]
    return secs * 1_000_000_000 + int(frac.ljust(9, b"0")[:9])


def _valid_ts(ts):
    return len(ts) == TS_LEN and ts[4:5] == b"-" and ts[10:11] == b"T" and ts[-1:] == b"Z"


def scan(path):
    r = {
        "path": str(path),
        "bytes": os.path.getsize(path),
        "lines": 0,
        "syscall": 0,
        "start": [],
        "summary": [],
        "lost": [],
        "other_types": {},
        "bad": 0,
        "bad_examples": [],
        "partial_last_line": False,
        "validated": 0,
        "first_ns": None,
        "hi_ns": None,
        "gaps": [],
    }

    def bad(line, why):
        r["bad"] += 1
        if len(r["bad_examples"]) < 3:
            r["bad_examples"].append({"line": r["lines"], "why": why, "text": line[:200].decode("utf-8", "replace")})

    def syscall_ts(ts):
        # The slow path of the gap scan: exact ns, a gap from the latest ts so far.
        nonlocal hi
        t = ts_ns(ts)
        if not hi:
            r["first_ns"] = t
        else:
            h = ts_ns(hi)
            if t - h > GAP_MIN_S * 1e9:
                r["gaps"].append([h, t])
        if ts > hi:
            hi = ts

    hi = b""  # the latest ts so far (fixed width: bytes compare as times do)
    bucket = b""
    lines = 0
    syscalls = 0
    with open(path, "rb", buffering=1 << 20) as f:
        for line in f:
            lines += 1
            if line.startswith(PREFIX):
                syscalls += 1
                ts = line[TS_AT:TS_AT + TS_LEN]
                if ts[:BUCKET_LEN] != bucket:
                    bucket = ts[:BUCKET_LEN]
                    if not _valid_ts(ts) or line[TS_AT + TS_LEN:TS_AT + TS_LEN + 2] != b'",':
                        r["lines"] = lines
                        bad(line, "syscall prefix without a timestamp after it")
                        continue
                    syscall_ts(ts)
                elif ts > hi:
                    hi = ts
                if lines <= VALIDATE_HEAD or syscalls % VALIDATE_EVERY == 0:
                    r["lines"] = lines
                    _validate(line, bad, r)
                continue
            r["lines"] = lines
            try:
                obj = json.loads(line)
            except ValueError as e:
                bad(line, f"not JSON: {e}")
                continue
            kind = obj.get("type")
            if kind == "syscall":  # a syscall line without the usual prefix
                syscalls += 1
                syscall_ts(obj["ts"].encode())
            elif kind == "lost":
                r["lost"].append({"count": obj["count"], "total": obj["total"], "line": lines})
            elif kind in ("start", "summary"):
                obj["line"] = lines
                r[kind].append(obj)
            else:
                r["other_types"][str(kind)] = r["other_types"].get(str(kind), 0) + 1
        if lines and not line.endswith(b"\n"):
            r["partial_last_line"] = True
    r["lines"] = lines
    r["syscall"] = syscalls
    r["hi_ns"] = ts_ns(hi) if hi else None
    # The last lines in full: a cut or mixed-up batch at rotation shows up at the end.
    with open(path, "rb") as f:
        size = f.seek(0, 2)
        f.seek(max(0, size - TAIL_BYTES))
        tail = f.read().split(b"\n")
        if size > TAIL_BYTES:
            tail = tail[1:]
        for line in tail:
            if line.startswith(PREFIX):  # the others were parsed above
                _validate(line, bad, r)
    return r


def _validate(line, bad, r):
    r["validated"] += 1
    try:
        obj = json.loads(line)
    except ValueError as e:
        bad(line, f"not JSON: {e}")
        return
    if not isinstance(obj, dict) or obj.get("v") != 2 or "type" not in obj or "ts" not in obj:
        bad(line, "not a v2 record")


def main(argv):
    if len(argv) < 2 or argv[1].startswith("-"):
        print("usage: scan.py FILE [--delete]", file=sys.stderr)
        return 2
    r = scan(argv[1])
    if "--delete" in argv[2:]:
        os.unlink(argv[1])
        r["deleted"] = True
    json.dump(r, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
