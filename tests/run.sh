#!/bin/sh
# Runs every test program and adds their "N passed, N failed" lines into the
# suite's last line. Usage: tests/run.sh BUILD_DIR
build=${1:-build}
total_p=0; total_f=0
run() {
    name=$1; shift
    out=$("$@" 2>&1); rc=$?
    last=$(printf '%s\n' "$out" | tail -n 1)
    p=$(printf '%s' "$last" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1/p')
    f=$(printf '%s' "$last" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\2/p')
    if [ -z "$p" ]; then p=0; f=1; printf '%s\n' "$out" | tail -n 20; echo "$name: crashed or no result line (exit $rc)"; fi
    if [ "$f" != 0 ]; then printf '%s\n' "$out" | grep -v '^[0-9]* passed' | head -n 60; fi
    [ "$rc" != 0 ] && [ "$f" = 0 ] && { f=1; echo "$name: exit status $rc"; }
    echo "$name: $p passed, $f failed"
    total_p=$((total_p + p)); total_f=$((total_f + f))
}
for t in "$build"/tests/*; do
    [ -x "$t" ] || continue
    case $(basename "$t") in
        spec) run spec "$t" "$build/repfix" tests/spec/*.txt ;;
        *) run "$(basename "$t")" "$t" "$build/repfix" ;;
    esac
done
for s in tests/cli/*.sh; do
    [ -f "$s" ] || continue
    run "$(basename "$s")" sh "$s" "$build/repfix"
done
echo "$total_p passed, $total_f failed"
[ "$total_f" = 0 ]
