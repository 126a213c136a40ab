#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""The bcc peer of `make bench`: the tail-call example of Learning eBPF chapter 2, in bcc.

A raw_tp/sys_enter dispatcher tail calls through a BPF_PROG_ARRAY indexed by the syscall
number; the handlers log with bpf_trace_printk and this script copies the kernel's
trace_pipe into --output, as the original printed it. Differences from the original, so the
comparison with tailcall-logger is fair: an optional pid filter (--pid, compiled in, tested
first), the prog array is filled before the dispatcher is attached, and the trace pipe is
copied in large reads instead of line by line (its best case). The ignore list is the
original's x86_64 numbers, which include uname (63).

Prints "attached" on stdout once the dispatcher is attached; stops on SIGINT/SIGTERM.
"""
import argparse
import ctypes as ct
import os
import signal
import sys
import threading

from bcc import BPF

PROGRAM = r"""
BPF_PROG_ARRAY(syscall, 512);

int hello(struct bpf_raw_tracepoint_args *ctx) {
    int opcode = ctx->args[1];
#if FILTER_PID
    if ((bpf_get_current_pid_tgid() >> 32) != FILTER_PID)
        return 0;
#endif
    syscall.call(ctx, opcode);
    bpf_trace_printk("Another syscall: %d", opcode);
    return 0;
}

int hello_exec(void *ctx) {
    bpf_trace_printk("Executing a program");
    return 0;
}

int hello_timer(struct bpf_raw_tracepoint_args *ctx) {
    int opcode = ctx->args[1];
    switch (opcode) {
        case 222:
            bpf_trace_printk("Creating a timer");
            break;
        case 226:
            bpf_trace_printk("Deleting a timer");
            break;
        default:
            bpf_trace_printk("Some other timer operation");
            break;
    }
    return 0;
}

int ignore_opcode(void *ctx) {
    return 0;
}
"""

# The original's list (x86_64 numbers): access, pipe, mremap, shmget, clone, fork, uname, ...
IGNORED = [21, 22, 25, 29, 56, 57, 63, 64, 66, 72, 73, 79, 98, 101, 115, 131, 134, 135, 139,
           172, 233, 280, 291]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pid", type=int, default=0)
    ap.add_argument("--output", required=True)
    ap.add_argument("--tracefs", default="/sys/kernel/tracing")
    ap.add_argument("--log", type=int, action="append", default=[],
                    help="a syscall number to log although the original ignores it")
    args = ap.parse_args()

    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda _sig, _frame: stop.set())
    signal.signal(signal.SIGTERM, lambda _sig, _frame: stop.set())
    b = BPF(text=PROGRAM, cflags=["-DFILTER_PID=%d" % args.pid])
    prog_array = b.get_table("syscall")
    ignore_fn = b.load_func("ignore_opcode", BPF.RAW_TRACEPOINT)
    exec_fn = b.load_func("hello_exec", BPF.RAW_TRACEPOINT)
    timer_fn = b.load_func("hello_timer", BPF.RAW_TRACEPOINT)
    prog_array[ct.c_int(59)] = ct.c_int(exec_fn.fd)
    prog_array[ct.c_int(322)] = ct.c_int(exec_fn.fd)
    for nr in range(222, 227):
        prog_array[ct.c_int(nr)] = ct.c_int(timer_fn.fd)
    for nr in IGNORED:
        if nr in args.log:
            continue
        prog_array[ct.c_int(nr)] = ct.c_int(ignore_fn.fd)

    pipe = os.open(os.path.join(args.tracefs, "trace_pipe"), os.O_RDONLY | os.O_NONBLOCK)
    out = open(args.output, "ab", buffering=0)
    b.attach_raw_tracepoint(tp="sys_enter", fn_name="hello")
    sys.stdout.write("attached\n")
    sys.stdout.flush()

    import select
    poller = select.poll()
    poller.register(pipe, select.POLLIN)
    while not stop.is_set():
        try:
            poller.poll(100)
            chunk = os.read(pipe, 1 << 20)
        except BlockingIOError:
            continue
        except InterruptedError:
            continue
        if chunk:
            out.write(chunk)
    b.detach_raw_tracepoint(tp="sys_enter")
    # What the kernel already holds.
    while True:
        try:
            chunk = os.read(pipe, 1 << 20)
        except (BlockingIOError, InterruptedError):
            break
        if not chunk:
            break
        out.write(chunk)
    out.close()


if __name__ == "__main__":
    main()
