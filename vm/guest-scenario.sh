#!/bin/sh
# Runs inside each VM (vm/init.sh). Every check prints one line "CELL <name> PASS|FAIL|N/A
# <detail>" on the serial console; vm/run.sh turns them into the table.
L=/bin/tailcall-logger
S=/bin/tailcall-logger-scenario

echo PROBE-BEGIN
$L probe --json
rc=$?
echo
echo PROBE-END
if [ $rc = 0 ]; then echo "CELL probe PASS"; else echo "CELL probe FAIL exit $rc"; fi

$S --logger $L --label auto

# --dispatch tail: where the trial load says tail calls load, it must work; where it says
# they do not (arm64 before 6.0 refuses tail calls next to BPF-to-BPF calls), it must fail
# with one clear line and exit 4.
probe=$($L probe --json 2>/dev/null)
case "$probe" in
  *'"tail":{"error":null,"loads":true}'*)
    $S --logger $L --label forced-tail --expect dispatch=tail -- --dispatch tail ;;
  *)
    out=$($L --json --dispatch tail 2>&1 >/dev/null)
    rc=$?
    case "$rc:$out" in
      "4:tailcall-logger: loading the tail dispatcher"*) echo "CELL forced-tail PASS refused as expected: $out" ;;
      *) echo "CELL forced-tail FAIL exit $rc: $out" ;;
    esac ;;
esac
$S --logger $L --label skip-others -- --skip-others
$S --logger $L --label inline --expect dispatch=inline -- --dispatch inline
$S --logger $L --label perf --expect transport=perf -- --transport perf

# No kernel BTF: an empty tmpfs over /sys/kernel/btf; the embedded minimal BTF takes over.
if mount -t tmpfs none /sys/kernel/btf; then
  $S --logger $L --label embedded-btf --expect btf=embedded
  umount /sys/kernel/btf
else
  echo "CELL embedded-btf FAIL cannot hide /sys/kernel/btf"
fi

# Last, because it cannot be undone: lockdown raised to confidentiality at run time must
# give the clear error (exit 4), not a libbpf dump.
if [ -w /sys/kernel/security/lockdown ] && echo confidentiality > /sys/kernel/security/lockdown 2>/dev/null; then
  out=$($L --json 2>&1 >/dev/null)
  rc=$?
  case "$rc:$out" in
    4:*lockdown*) echo "CELL lockdown PASS exit 4: $out" ;;
    *) echo "CELL lockdown FAIL exit $rc: $out" ;;
  esac
else
  echo "CELL lockdown N/A this kernel has no lockdown LSM"
fi
