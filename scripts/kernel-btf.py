#!/usr/bin/env python3
"""Cuts the .BTF blob out of an uncompressed kernel Image (Debian's arm64 packages ship one).

    scripts/kernel-btf.py IMAGE OUT

The blob starts with the BTF magic 0xeB9F (little-endian: 9f eb), version 1, and a header
whose hdr_len, str_off and str_len give its length. The result is what the running kernel
exposes as /sys/kernel/btf/vmlinux; build.rs cuts the minimal BTF for an arm64 build from
it (bpftool gen min_core_btf), as it does from the build machine's own BTF on x86_64.
"""
import struct
import sys


def find_btf(data: bytes) -> bytes:
    start = 0
    best = b""
    while True:
        at = data.find(b"\x9f\xeb\x01\x00", start)
        if at < 0:
            break
        start = at + 1
        if at + 24 > len(data):
            continue
        _magic, _ver, _flags, hdr_len, type_off, type_len, str_off, str_len = struct.unpack_from(
            "<HBBIIIII", data, at)
        if hdr_len != 24 or type_off != 0 or str_off != type_len:
            continue
        end = at + hdr_len + str_off + str_len
        if end <= len(data) and end - at > len(best):
            best = data[at:end]
    return best


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    with open(sys.argv[1], "rb") as f:
        data = f.read()
    btf = find_btf(data)
    if len(btf) < 1024 * 1024:
        print(f"kernel-btf: no vmlinux BTF found in {sys.argv[1]}", file=sys.stderr)
        return 1
    with open(sys.argv[2], "wb") as f:
        f.write(btf)
    print(f"kernel-btf: {len(btf)} bytes of BTF from {sys.argv[1]}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
