#!/bin/sh
# batch.sh - the JSONL batch contract of the repfix program, end to end.
#
#   sh tests/cli/batch.sh path/to/repfix
#
# Generates logs of OpenAI-, Gemini- and Anthropic-shaped records (big
# integers, \u escapes, odd spacing; some answers with blank-line runs,
# escape runs, padded tables or loops; a broken line; CRLF; no final
# newline) and checks: one output per input with the same record count;
# clean records byte-identical; repaired records differ only inside one
# string value; --in-place == -o; -j 1 == -j 4; a missing input gives exit
# 2 while the others are written; a failed write (file size limit) leaves
# the original untouched and no temporary file; findings carry file, record
# and path; no progress line on a pipe unless --progress; --stats; an
# over-long line passes through; and the distributed recipe of
# docs/batch.md (split -l + xargs -P, GNU parallel --pipe when installed)
# gives the single-process bytes. Ends with "N passed, N failed".
export LC_ALL=C
bin=${1:?usage: batch.sh path/to/repfix}
case $bin in /*) ;; *) bin=$(pwd)/$bin ;; esac
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
not() { ! "$@"; }
check() { # check DESCRIPTION COMMAND...
    d=$1
    shift
    if "$@"; then ok; else bad "$d"; fi
}
T=$(mktemp -d "${TMPDIR:-/tmp}/repfix-batch-XXXXXX") || exit 2
trap 'rm -rf "$T"' EXIT
trap 'exit 2' INT TERM
TO=""
command -v timeout >/dev/null 2>&1 && TO="timeout 120"
rf() { $TO "$bin" "$@"; }

# ---- generated logs ---------------------------------------------------
# gen_log N SEED DEFECTS: N records, cycling shapes; DEFECTS=1 puts a defect
# in about every third answer.
gen_log() {
    awk -v n="$1" -v seed="$2" -v defects="$3" '
    function pick(a, k) { return a[int(rand() * k) + 1] }
    BEGIN {
        srand(seed)
        s[1] = "The build failed because the cache key changed between runs."
        s[2] = "Caf\\u00e9 prices rose by 12\\u202f% in the second quarter."
        s[3] = "Use `git bisect` to find the commit that broke the test."
        s[4] = "Na\\u00efve retries make an outage worse; add jitter."
        s[5] = "The report is in \\\"results/summary.md\\\" \\u2014 see section 2."
        s[6] = "Emoji survive too: \\ud83d\\ude80 and \\u2705."
        s[7] = "Each worker reads one shard, so memory stays flat."
        s[8] = "Paths like C:\\\\Users\\\\ci\\\\build stay as they are."
        tbl = "| Region | Price |\\n|---|---|\\n| eu-west | $0.023 |\\n| us-east | $0.021 |\\n"
        for (i = 0; i < n; i++) {
            # four different sentences: a clean answer never repeats one
            r = int(rand() * 8)
            text = s[r % 8 + 1] " " s[(r + 3) % 8 + 1] "\\n\\n" s[(r + 5) % 8 + 1]
            if (i % 5 == 2) text = text "\\n\\n" tbl
            text = text "\\n\\n" s[(r + 6) % 8 + 1]
            if (defects && i % 3 == 1) {
                d = int(i / 3) % 4
                if (d == 0) text = pick(s, 8) "\\n\\n\\n\\n\\n\\n\\n\\n\\n\\n" pick(s, 8)
                else if (d == 1) text = pick(s, 8) "\\\\n\\\\n\\\\n\\\\n\\\\n\\\\n\\\\n\\\\n" pick(s, 8)
                else if (d == 2) text = "| Region | Price |\\n|:--------------------------------------------:|-----------------------------------------|\\n| eu           | $1                 |\\n"
                else { l = pick(s, 8) " "; text = "Intro.\\n\\n"; for (k = 0; k < 12; k++) text = text l }
            }
            big = "1234567890123456789" (1000 + i)
            shape = i % 4
            if (shape == 0)
                printf "{\"id\":\"chatcmpl-%d\",\"object\":\"chat.completion\",\"created\":%s,\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"%s\",\"refusal\":null},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":%d,\"total_tokens\":%d}}\n", i, big, text, i * 7, i * 9
            else if (shape == 1)
                printf "{ \"candidates\" : [ { \"content\" : { \"role\" : \"model\" , \"parts\" : [ { \"text\" : \"%s\" } ] } , \"finishReason\" : \"STOP\" } ] ,  \"usageMetadata\":{\"totalTokenCount\": %s} }\n", text, big
            else if (shape == 2)
                printf "{\"id\":\"msg_%d\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[{\"type\":\"text\",\"text\":\"%s\"}],\"stop_reason\":\"end_turn\",\"usage\":{\"input_tokens\":%s,\"output_tokens\":1.5e3}}\n", i, text, big
            else
                printf "{\"custom_id\":\"req-%d\",\"response\":{\"status_code\":200,\"body\":{\"choices\":[{\"message\":{\"content\":\"%s\"}}]}},\"note\":\"caf\\u00e9\\n\\n\\n\\n\\n\"}\n", i, text
        }
    }'
}

gen_log 120 1 0 > "$T/clean.jsonl"
gen_log 300 2 1 > "$T/mixed.jsonl"
{
    gen_log 40 3 1
    printf '{"choices":[{"message":{"content":"broken\\n\\n\\n\\n\\n"}}]\n'
    printf 'plain text in a log\n'
    printf '\n'
    gen_log 40 4 1
} > "$T/broken.jsonl"
# CRLF line ends and no final newline
gen_log 30 5 1 | sed 's/$/\r/' > "$T/crlf.ndjson"
printf '{"choices":[{"message":{"content":"last\\n\\n\\n\\n\\n\\nline"}}]}' >> "$T/crlf.ndjson"

# ---- one output per input, same record count ----------------------------
mkdir "$T/out" "$T/out1"
rf -o "$T/out" "$T/clean.jsonl" "$T/mixed.jsonl" "$T/broken.jsonl" "$T/crlf.ndjson" 2>"$T/err"
check "-o DIR exits 0 on good inputs" [ $? = 0 ]
for f in clean.jsonl mixed.jsonl broken.jsonl crlf.ndjson; do
    check "$f: output exists" [ -f "$T/out/$f" ]
    check "$f: same record count" [ "$(wc -l < "$T/$f")" = "$(wc -l < "$T/out/$f")" ]
done
check "no progress line or stats on a pipe" [ ! -s "$T/err" ]

# ---- clean records byte-identical ---------------------------------------
check "clean log is byte-identical" cmp -s "$T/clean.jsonl" "$T/out/clean.jsonl"
check "something was repaired in the mixed log" not cmp -s "$T/mixed.jsonl" "$T/out/mixed.jsonl"

# ---- repaired records differ only inside one string value ----------------
# For each line pair: strip the longest common prefix and suffix; the input's
# differing stretch must start inside a string (an odd number of unescaped
# quotes before it) and contain no unescaped quote.
only_inside() {
    awk '
    function quotes(s,   i, c, n, esc) {
        n = 0; esc = 0
        for (i = 1; i <= length(s); i++) {
            c = substr(s, i, 1)
            if (esc) { esc = 0; continue }
            if (c == "\\") { esc = 1; continue }
            if (c == "\"") n++
        }
        return n
    }
    NR == FNR { a[FNR] = $0; next }
    {
        x = a[FNR]; y = $0
        if (x == y) next
        p = 0
        while (p < length(x) && p < length(y) && substr(x, p + 1, 1) == substr(y, p + 1, 1)) p++
        # back up to the start of an escape so the stretch is whole
        while (p > 0 && substr(x, p, 1) == "\\") p--
        q = 0
        while (q < length(x) - p && q < length(y) - p &&
               substr(x, length(x) - q, 1) == substr(y, length(y) - q, 1)) q++
        mid = substr(x, p + 1, length(x) - p - q)
        if (quotes(substr(x, 1, p)) % 2 != 1 || quotes(mid) != 0) {
            print "line " FNR ": change outside a string value"; bad = 1
        }
    }
    END { exit bad }' "$1" "$2"
}
check "mixed: changes only inside string values" only_inside "$T/mixed.jsonl" "$T/out/mixed.jsonl"
check "broken: changes only inside string values" only_inside "$T/broken.jsonl" "$T/out/broken.jsonl"
check "crlf: changes only inside string values" only_inside "$T/crlf.ndjson" "$T/out/crlf.ndjson"

# ---- broken lines, CRLF, final line -----------------------------------------
check "a broken record passes through" grep -qxF '{"choices":[{"message":{"content":"broken\n\n\n\n\n"}}]' "$T/out/broken.jsonl"
check "a text line passes through" grep -qxF 'plain text in a log' "$T/out/broken.jsonl"
check "CRLF line ends stay" [ "$(tr -cd '\r' < "$T/crlf.ndjson" | wc -c)" = "$(tr -cd '\r' < "$T/out/crlf.ndjson" | wc -c)" ]
check "final line stays without newline" [ "$(tail -c 1 "$T/out/crlf.ndjson" | od -An -c | tr -d ' ')" = '}' ]
check "a repaired final line" grep -qF '"last\n\nline"' "$T/out/crlf.ndjson"

# ---- -j 1 gives the same bytes ---------------------------------------------
rf -j 1 -o "$T/out1" "$T/clean.jsonl" "$T/mixed.jsonl" "$T/broken.jsonl" "$T/crlf.ndjson" 2>/dev/null
for f in clean.jsonl mixed.jsonl broken.jsonl crlf.ndjson; do
    check "$f: -j 1 == -j default" cmp -s "$T/out/$f" "$T/out1/$f"
done
rf --format=jsonl < "$T/mixed.jsonl" > "$T/stdout.jsonl" 2>/dev/null
check "stdin to stdout == -o" cmp -s "$T/out/mixed.jsonl" "$T/stdout.jsonl"

# ---- --in-place -------------------------------------------------------------
mkdir "$T/ip"
cp "$T/clean.jsonl" "$T/mixed.jsonl" "$T/broken.jsonl" "$T/crlf.ndjson" "$T/ip/"
chmod 640 "$T/ip/mixed.jsonl"
rf -j 4 --in-place "$T/ip/clean.jsonl" "$T/ip/mixed.jsonl" "$T/ip/broken.jsonl" "$T/ip/crlf.ndjson" 2>/dev/null
check "--in-place exits 0" [ $? = 0 ]
for f in clean.jsonl mixed.jsonl broken.jsonl crlf.ndjson; do
    check "$f: --in-place == -o" cmp -s "$T/out/$f" "$T/ip/$f"
done
check "--in-place keeps the mode" [ "$(ls -l "$T/ip/mixed.jsonl" | cut -c1-10)" = "-rw-r-----" ]
check "--in-place leaves no temporary file" [ "$(ls "$T/ip" | wc -l)" = 4 ]
ln -s mixed.jsonl "$T/ip/link.jsonl"
rf --in-place "$T/ip/link.jsonl" 2>/dev/null
check "--in-place through a symlink keeps the link" [ -L "$T/ip/link.jsonl" ]
check "--in-place is idempotent" cmp -s "$T/out/mixed.jsonl" "$T/ip/mixed.jsonl"

# ---- a missing or unreadable input: exit 2, the others still written --------
mkdir "$T/out2" "$T/adir"
rf -o "$T/out2" "$T/mixed.jsonl" "$T/missing.jsonl" "$T/adir" "$T/clean.jsonl" 2>"$T/err"
check "missing input: exit 2" [ $? = 2 ]
check "missing input is reported" grep -q 'missing.jsonl' "$T/err"
check "a directory input is reported" grep -q 'adir' "$T/err"
check "the other inputs are written" cmp -s "$T/out/mixed.jsonl" "$T/out2/mixed.jsonl"
check "the other inputs are written (2)" cmp -s "$T/clean.jsonl" "$T/out2/clean.jsonl"
check "nothing is written for a missing input" [ ! -e "$T/out2/missing.jsonl" ]
cp "$T/mixed.jsonl" "$T/ip2.jsonl"
rf --in-place "$T/ip2.jsonl" "$T/missing.jsonl" 2>/dev/null
check "--in-place with a missing input: exit 2" [ $? = 2 ]
check "--in-place with a missing input: the other is rewritten" cmp -s "$T/out/mixed.jsonl" "$T/ip2.jsonl"
mkdir "$T/dup1" "$T/dup2" "$T/out3"
cp "$T/mixed.jsonl" "$T/dup1/x.jsonl"
cp "$T/clean.jsonl" "$T/dup2/x.jsonl"
rf -o "$T/out3" "$T/dup1/x.jsonl" "$T/dup2/x.jsonl" 2>/dev/null
check "two inputs with one name into -o DIR: exit 2" [ $? = 2 ]
check "two inputs with one name: nothing written" [ ! -e "$T/out3/x.jsonl" ]

# ---- a failed write never leaves a half-written file ------------------------
# A file size limit makes write() fail with EFBIG (SIGXFSZ ignored) the way
# a full disk fails it with ENOSPC.
gen_log 3000 6 1 > "$T/large.jsonl"
cp "$T/large.jsonl" "$T/large.orig"
(
    trap '' XFSZ
    ulimit -f 64 2>/dev/null || exit 99
    exec "$bin" --in-place "$T/large.jsonl"
) 2>"$T/err"
st=$?
if [ "$st" = 99 ]; then
    ok
else
    check "write failure: exit 2" [ "$st" = 2 ]
    check "write failure: the original is untouched" cmp -s "$T/large.orig" "$T/large.jsonl"
    check "write failure: no temporary file left" [ -z "$(ls "$T" | grep 'repfix-')" ]
    check "write failure is reported" grep -q 'large.jsonl' "$T/err"
fi

# ---- findings: file, record, path -------------------------------------------
rf --check --report="$T/report.jsonl" "$T/broken.jsonl" "$T/clean.jsonl"
check "--check: exit 1 with defects" [ $? = 1 ]
rf --check "$T/clean.jsonl"
check "--check: exit 0 on a clean log" [ $? = 0 ]
check "findings name the file" grep -q '"file":"[^"]*broken.jsonl"' "$T/report.jsonl"
check "findings carry a record" grep -q '"record":[0-9]' "$T/report.jsonl"
check "findings carry a path" grep -q '"path":"choices\[0\]\.message\.content"' "$T/report.jsonl"
check "findings carry a nested path" grep -q '"path":"response\.body\.choices\[0\]\.message\.content"' "$T/report.jsonl"
check "the broken line is an invalid-json finding on its record" grep -q '"kind":"invalid-json".*"action":"flagged".*"record":40' "$T/report.jsonl"
check "no findings for the clean log" not grep -q 'clean.jsonl' "$T/report.jsonl"
check "notes outside a text path are not touched" not grep -q '"path":"note"' "$T/report.jsonl"

# ---- --field -----------------------------------------------------------------
printf '{"data":{"reply":"a\\n\\n\\n\\n\\nb"},"items":[{"t":"c\\n\\n\\n\\n\\nd"},{"t":"e"}]}\n' > "$T/custom.jsonl"
rf --field=data.reply --field='items[].t' "$T/custom.jsonl" > "$T/custom.out"
check "--field cleans named paths" [ "$(cat "$T/custom.out")" = '{"data":{"reply":"a\n\nb"},"items":[{"t":"c\n\nd"},{"t":"e"}]}' ]
rf --field='data..x' "$T/custom.jsonl" >/dev/null 2>&1
check "a malformed --field is a usage error" [ $? = 2 ]

# ---- --stats, --progress ---------------------------------------------------
rf --stats -o "$T/out2" "$T/mixed.jsonl" 2>"$T/err"
check "--stats prints a table" grep -q '^newline-run  *[1-9]' "$T/err"
check "--stats has a total" grep -q '^total ' "$T/err"
rf --progress -o "$T/out2" "$T/mixed.jsonl" 2>"$T/err"
check "--progress forces the line" grep -q 'files, .* records, .* MB/s, .* defects' "$T/err"

# ---- an over-long line passes through ----------------------------------------
if [ -n "${REPFIX_SKIP_BIG:-}" ]; then
    ok
else
    { printf '{"a":"'; head -c 68000000 /dev/zero | tr '\0' 'x'; printf '"}\n'; head -n 5 "$T/mixed.jsonl"; } > "$T/long.jsonl"
    rf --report="$T/long.rep" --format=jsonl < "$T/long.jsonl" > "$T/long.out"
    check "over-long line: exit 0" [ $? = 0 ]
    head -n 5 "$T/mixed.jsonl" > "$T/five.in"
    rf --format=jsonl < "$T/five.in" > "$T/five.out"
    check "over-long line passes through unchanged" [ "$(head -c 68000010 "$T/long.out" | cksum)" = "$(head -c 68000010 "$T/long.jsonl" | cksum)" ]
    check "records after it are still repaired" [ "$(tail -n 5 "$T/long.out" | cksum)" = "$(cksum < "$T/five.out")" ]
    check "over-long line: one invalid-json finding" [ "$(grep -c '"kind":"invalid-json".*"start":0,"end":68000008' "$T/long.rep")" = 1 ]
    rm -f "$T/long.jsonl" "$T/long.out"
fi

# ---- past one machine: a record filter in a distributed engine ---------------
# JSONL in and out is line for line, so any split at line boundaries works;
# here split -l + xargs -P stand in for the hosts.
gen_log 2000 7 1 > "$T/dist.jsonl"
rf --format=jsonl < "$T/dist.jsonl" > "$T/dist.single"
mkdir "$T/parts"
(cd "$T/parts" && split -l 137 -a 4 "$T/dist.jsonl" part.)
ls "$T/parts"/part.* | xargs -P 4 -I{} sh -c "$TO '$bin' --format=jsonl < '{}' > '{}.out'"
cat "$T/parts"/part.*.out > "$T/dist.joined"
check "split -l + xargs -P == one process" cmp -s "$T/dist.single" "$T/dist.joined"
check "the distributed run repaired something" not cmp -s "$T/dist.jsonl" "$T/dist.joined"
if command -v parallel >/dev/null 2>&1 && parallel --version 2>/dev/null | grep -q GNU; then
    parallel --pipe --keep-order -N 100 -j 4 "$bin" --format=jsonl < "$T/dist.jsonl" > "$T/dist.par"
    check "GNU parallel --pipe == one process" cmp -s "$T/dist.single" "$T/dist.par"
fi

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
