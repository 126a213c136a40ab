#!/usr/bin/python3
"""Keeps the provisioning script of lima/hello-ebpf.yaml equal to lima/provision.sh.

  lima/embed.py --write   rewrite the template's `mode: system` script from lima/provision.sh
  lima/embed.py --check   exit 1 unless the template's script is lima/provision.sh, byte for byte

Only the literal block under `- mode: system` / `script: |` is touched; the rest of the
template (comments included) is left as it is.
"""
import re
import sys
from pathlib import Path

import yaml

LIMA = Path(__file__).resolve().parent
TEMPLATE = LIMA / "hello-ebpf.yaml"
SCRIPT = LIMA / "provision.sh"


def embedded(text: str) -> str:
    doc = yaml.safe_load(text)
    scripts = [p["script"] for p in doc.get("provision") or [] if p.get("mode") == "system"]
    if len(scripts) != 1:
        raise SystemExit(f"{TEMPLATE}: expected one `mode: system` provision entry, found {len(scripts)}")
    return scripts[0]


def rewrite(text: str, script: str) -> str:
    lines = text.splitlines(keepends=True)
    for i in range(1, len(lines)):
        m = re.match(r"^( *)script: \|\n$", lines[i])
        if m and re.match(r"^ *- mode: system\n$", lines[i - 1]):
            break
    else:
        raise SystemExit(f"{TEMPLATE}: no `- mode: system` line followed by `script: |`")
    indent = " " * (len(m.group(1)) + 2)
    end = i + 1
    while end < len(lines) and (lines[end].strip() == "" or lines[end].startswith(indent)):
        end += 1
    # Blank lines after the block belong to the template, not to the script.
    while end > i + 1 and lines[end - 1].strip() == "":
        end -= 1
    body = [indent + line if line.strip() else "\n" for line in script.splitlines(keepends=True)]
    return "".join(lines[: i + 1] + body + lines[end:])


def main() -> int:
    if len(sys.argv) != 2 or sys.argv[1] not in ("--write", "--check"):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    script = SCRIPT.read_text()
    if not script.startswith("#!") or not script.endswith("\n") or script.endswith("\n\n"):
        print(f"{SCRIPT}: must start with #! and end with exactly one newline", file=sys.stderr)
        return 1
    text = TEMPLATE.read_text()
    if sys.argv[1] == "--write":
        new = rewrite(text, script)
        if embedded(new) != script:
            print("embed: the rewritten template does not carry the script exactly", file=sys.stderr)
            return 1
        if new != text:
            TEMPLATE.write_text(new)
            print(f"embed: {TEMPLATE.name} now carries {SCRIPT.name}")
        return 0
    if embedded(text) != script:
        print(f"{TEMPLATE.name}: its `mode: system` script differs from {SCRIPT.name}; run make lima-embed",
              file=sys.stderr)
        return 1
    if rewrite(text, script) != text:
        print(f"{TEMPLATE.name}: same script, but not in the layout make lima-embed writes", file=sys.stderr)
        return 1
    print(f"{TEMPLATE.name} carries {SCRIPT.name} byte for byte ({len(script.encode())} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
