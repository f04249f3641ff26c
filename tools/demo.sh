#!/bin/sh
# make demo: runs repfix on a bundled model answer with the defects Google's
# Gemini troubleshooting guide names, and shows what it repaired.
bin=${1:-build/repfix}
in=corpora/demo/gemini-answer.md
out=${TMPDIR:-/tmp}/repfix-demo.md
report=${TMPDIR:-/tmp}/repfix-demo.jsonl
"$bin" --report="$report" "$in" > "$out"; rc=$?
[ "$rc" -le 1 ] || { echo "repfix failed (exit $rc)"; exit 1; }
echo "== input: $in ($(wc -c < "$in") bytes, $(wc -l < "$in") lines)"
echo "== findings (--report, JSON Lines):"
cat "$report"
echo
echo "== repaired output ($(wc -c < "$out") bytes):"
cat "$out"
echo
echo "== the same check as a CI gate: repfix --check exits 1 when defects are present"
"$bin" --check "$in"; echo "exit status: $?"
