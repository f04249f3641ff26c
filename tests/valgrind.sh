#!/bin/sh
# valgrind.sh - memcheck (errors and leaks fail) on a subset of the suite,
# for `make check`: the unit tests, the allocation-failure test (its error
# paths), and CLI runs over every format and the batch paths, all from the
# plain (uninstrumented) build; the fuzz replay already runs under ASan in
# check. Every run has a time limit. Usage: tests/valgrind.sh BUILD_DIR
build=${1:-build}
command -v valgrind >/dev/null 2>&1 || sh tools/deps.sh valgrind || {
    echo "valgrind: not installed (apt-get install valgrind); skipped"; exit 0; }
vg="valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect"
passed=0; failed=0
tmp=$(mktemp -d "${TMPDIR:-/tmp}/repfix-vg-XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT INT TERM

vrun() { # vrun NAME COMMAND...: valgrind must report nothing
    name=$1; shift
    timeout 300 $vg "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
    rc=$?
    [ $rc = 124 ] && echo "valgrind: $name timed out" >>"$tmp/err" && rc=99
    if [ $rc = 99 ] || grep -q '^==[0-9]*==' "$tmp/err"; then
        failed=$((failed + 1)); echo "FAIL valgrind: $name (exit $rc)"; head -n 40 "$tmp/err"
    else
        passed=$((passed + 1))
    fi
}

for t in unit alloc; do
    [ -x "$build/tests/$t" ] && vrun "$t" "$build/tests/$t" "$build/repfix"
done
bin=$build/repfix
for f in corpora/*/*; do
    [ -f "$f" ] || continue
    cp "$f" "$tmp/$(basename "$f")"
done
printf '| a | b |\n|:-------------:|---|\n| 1      | 2 |\n\n\n\n\nLet me try again. Let me try again. Let me try again. Let me try again.\n' >"$tmp/defects.md"
printf '{"a": "x\\n\\n\\n\\n\\n\\ny", "b": [1, 2,\n\n\n\n\n 3]}\n' >"$tmp/doc.json"
rec='{"choices":[{"message":{"content":"a\\n\\n\\n\\n\\nb","tool_calls":[{"type":"function","function":{"name":"f","arguments":"{}"}}]}}]}'
printf '%s\n%s\n%s\n%s\n%s\nnot json\n' "$rec" "$rec" "$rec" "$rec" "$rec" >"$tmp/log.jsonl"
vrun "cli text" "$bin" --report="$tmp/r1" "$tmp/defects.md"
vrun "cli json" "$bin" --report="$tmp/r2" "$tmp/doc.json"
vrun "cli jsonl" "$bin" --report="$tmp/r3" --field=data.reply "$tmp/log.jsonl"
vrun "cli flag" "$bin" --flag --stats "$tmp/defects.md" "$tmp/doc.json" "$tmp/log.jsonl"
vrun "cli check" "$bin" --check -j 2 "$tmp/defects.md" "$tmp/doc.json"
mkdir -p "$tmp/outdir"
vrun "cli batch" "$bin" -j 2 -o "$tmp/outdir" "$tmp"/*.md "$tmp"/*.json "$tmp"/*.jsonl "$tmp"/*.txt
vrun "cli in-place" "$bin" --in-place "$tmp/defects.md"
vrun "cli stop-on-loop" "$bin" --stop-on-loop "$tmp/defects.md"
vrun "cli bad option" "$bin" --nope
echo "$passed passed, $failed failed"
[ $failed = 0 ]
