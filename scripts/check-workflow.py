#!/usr/bin/python3
"""Checks .github/workflows/*.yml: valid YAML, and every `make TARGET` it runs is a real
target of this Makefile (make -n succeeds). The workflow cannot run here; this keeps it
from drifting away from the Makefile."""
import glob
import re
import shlex
import subprocess
import sys

import yaml

failures = 0
for path in sorted(glob.glob(".github/workflows/*.yml")):
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
sys.exit(1 if failures else 0)
