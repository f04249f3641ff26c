#!/bin/sh
# hostile.sh - inputs meant to break repfix: huge lines, huge tables, deep
# JSON, runaway escapes, bytes it must not touch, values just around every
# threshold, an endless producer, closed and full outputs.
#
# Usage: sh tests/cli/hostile.sh path/to/repfix
# Inputs are generated into a temporary directory (never committed). Every
# run has a time limit (timeout: a hang fails); peak memory comes from
# /usr/bin/time (Debian package `time`, installed when missing and root).
# Checks of detectors that have not landed yet are reduced to totality
# (exit 0, output written, bounded time and memory), decided by probing the
# binary. Against a sanitizer build (make check) the big inputs shrink and
# the memory limits are skipped. Ends with "N passed, N failed".
bin=${1:-build/repfix}
case $bin in /*) ;; *) bin=$(pwd)/$bin ;; esac
passed=0; failed=0
tmp=$(mktemp -d "${TMPDIR:-/tmp}/repfix-hostile-XXXXXX") || exit 2
mounted=""
cleanup() {
    for m in $mounted; do umount "$m" 2>/dev/null; done
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL hostile: $*" >&2; }
check() { # check COND-STATUS NAME...: 0 = pass
    if [ "$1" = 0 ]; then ok; else shift; bad "$@"; fi
}
note() { echo "note: $*"; }

# sanitizer build: smaller inputs, no memory limits (shadow memory)
san=0
grep -q __asan_init "$bin" 2>/dev/null && san=1
if [ $san = 1 ]; then BIG=20000000; MID=4000000; else BIG=100000000; MID=20000000; fi
MEM_LIMIT_KB=65536

TIME=/usr/bin/time
if [ ! -x $TIME ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q time >/dev/null 2>&1 ||
        { apt-get update -q >/dev/null 2>&1 &&
          DEBIAN_FRONTEND=noninteractive apt-get install -y -q time >/dev/null 2>&1; }
fi
[ -x $TIME ] || { TIME=""; note "no /usr/bin/time: memory checks skipped"; }

now_ms() { date +%s%3N; }
start_ms=$(now_ms)
section() { echo "hostile: [$(( ($(now_ms) - start_ms) / 1000 )) s] $*"; }

# run LIMIT_S IN OUT ARGS...: sets rc, ms (elapsed), kb (peak RSS or 0)
run() {
    lim=$1; inp=$2; outp=$3; shift 3
    t0=$(now_ms)
    if [ -n "$TIME" ]; then
        $TIME -f %M -o "$tmp/mem" timeout "$lim" "$bin" "$@" <"$inp" >"$outp" 2>"$tmp/err"
        rc=$?
        kb=$(tail -n 1 "$tmp/mem" 2>/dev/null)
        case $kb in ''|*[!0-9]*) kb=0 ;; esac
    else
        timeout "$lim" "$bin" "$@" <"$inp" >"$outp" 2>"$tmp/err"
        rc=$?; kb=0
    fi
    ms=$(($(now_ms) - t0))
}

# total NAME: the last run ended normally (0 or 1), in time, within memory
total() {
    [ $rc = 124 ] && { bad "$1: timed out after ${lim}s"; return; }
    [ $rc -le 1 ] || { bad "$1: exit $rc: $(head -c 300 "$tmp/err")"; return; }
    ok
    if [ -n "$TIME" ] && [ $san = 0 ]; then
        check "$([ "$kb" -lt $MEM_LIMIT_KB ] && echo 0)" "$1: peak memory ${kb} KiB (limit $MEM_LIMIT_KB)"
    fi
}

same() { cmp -s "$1" "$2"; }
size() { wc -c <"$1" | tr -d ' '; }

# ---- probes: which detectors are active ---------------------------------
probe() { printf "$1" | timeout 10 "$bin" $2 2>/dev/null; }
have_repeat=0; have_table=0; have_json=0; have_toolcall=0
[ "$(probe 'Intro.\n\nThe cat sat on the mat today. The cat sat on the mat today. The cat sat on the mat today. The cat sat on the mat today.\n\nEnd.\n' | wc -c)" -lt 120 ] && have_repeat=1
[ "$(probe '| a | b |\n|-------------------------|---|\n| 1 | 2 |\n' | wc -c)" -lt 40 ] && have_table=1
[ "$(probe '{"a": "x\\n\\n\\n\\n\\n\\n\\n\\ny"}' --format=json | wc -c)" -lt 28 ] && have_json=1
rec='{"choices":[{"message":{"tool_calls":[{"type":"function","function":{"name":"f","arguments":"{}"}}]}}]}\n'
printf "$rec$rec$rec$rec$rec$rec" | timeout 10 "$bin" --check --format=jsonl >/dev/null 2>&1
[ $? = 1 ] && have_toolcall=1
note "active: repeat=$have_repeat table=$have_table json=$have_json toolcall=$have_toolcall sanitizer=$san"

# ---- huge inputs ---------------------------------------------------------
section huge inputs
# A single 100 MB line (random base64: no loop, no defect): identical, bounded.
head -c $((BIG * 3 / 4)) /dev/urandom | base64 -w 0 >"$tmp/line"
run 60 "$tmp/line" "$tmp/out"
total "100 MB single line"
check "$(same "$tmp/line" "$tmp/out" && echo 0)" "100 MB single line: output differs"
echo "hostile: single line $(size "$tmp/line") bytes: ${ms} ms, ${kb} KiB"
rm -f "$tmp/line" "$tmp/out"

# The same line as JSON Lines and JSON (a string value 100 MB long).
{ printf '{"text":"'; head -c $((MID * 3 / 4)) /dev/urandom | base64 -w 0; printf '"}\n'; } >"$tmp/in"
run 60 "$tmp/in" "$tmp/out" --format=jsonl
total "huge JSONL record"
check "$(same "$tmp/in" "$tmp/out" && echo 0)" "huge JSONL record changed"
run 60 "$tmp/in" "$tmp/out" --format=json
total "huge JSON string"
check "$(same "$tmp/in" "$tmp/out" && echo 0)" "huge JSON string changed"
echo "hostile: JSON string $(size "$tmp/in") bytes: ${ms} ms, ${kb} KiB"

# One character 20 MB long: a loop of period 1 in prose.
{ printf 'Wow'; head -c $MID /dev/zero | tr '\0' '!'; printf '\nEnd.\n'; } >"$tmp/in"
run 60 "$tmp/in" "$tmp/out"
total "20 MB of one character"
if [ $have_repeat = 1 ]; then
    check "$([ "$(size "$tmp/out")" -lt 100000 ] && echo 0)" "20 MB of '!' not collapsed ($(size "$tmp/out") bytes)"
fi

# 10^6 table columns (distinct cells, 3-hyphen delimiters: no defect).
awk 'BEGIN { n = 1000000
    printf "|"; for (i = 1; i <= n; i++) printf " c%d |", i; printf "\n|"
    for (i = 1; i <= n; i++) printf "---|"; printf "\n|"
    for (i = 1; i <= n; i++) printf " %d |", i * 7; printf "\n" }' >"$tmp/in"
run 60 "$tmp/in" "$tmp/out"
total "10^6 table columns"
check "$(same "$tmp/in" "$tmp/out" && echo 0)" "10^6 table columns changed"
echo "hostile: 10^6 columns $(size "$tmp/in") bytes: ${ms} ms, ${kb} KiB"

# A delimiter row of 100 MB of hyphens between a header and a row.
{ printf '| a | b |\n|'; head -c $BIG /dev/zero | tr '\0' '-'; printf '|---|\n| 1 | 2 |\n'; } >"$tmp/in"
run 60 "$tmp/in" "$tmp/out"
total "100 MB delimiter row"
check "$([ "$(head -c 10 "$tmp/out")" = "| a | b |" ] && [ "$(tail -n 1 "$tmp/out")" = "| 1 | 2 |" ] && echo 0)" \
    "100 MB delimiter row: header or last row damaged"
echo "hostile: delimiter row $(size "$tmp/in") bytes -> $(size "$tmp/out"): ${ms} ms, ${kb} KiB"
rm -f "$tmp/in" "$tmp/out"

# 10^6 nested JSON brackets, closed (valid: unchanged) and left open.
{ head -c 1000000 /dev/zero | tr '\0' '['; head -c 1000000 /dev/zero | tr '\0' ']'; printf '\n'; } >"$tmp/in"
run 30 "$tmp/in" "$tmp/out" --format=json
total "10^6 nested brackets"
check "$(same "$tmp/in" "$tmp/out" && echo 0)" "10^6 nested brackets changed (the JSON value must not change)"
{ printf '{"a":'; head -c 1000000 /dev/zero | tr '\0' '['; printf '{"b": "x\\n\\n\\n\\n\\n\\n"'; } >"$tmp/in"
run 30 "$tmp/in" "$tmp/out" --format=json
total "10^6 open brackets, truncated"
for fmt in jsonl text; do
    run 30 "$tmp/in" "$tmp/out" --format=$fmt
    total "10^6 open brackets as $fmt"
done

# A JSON string of 100 MB of \n escapes (and the same in a JSONL record).
{ printf '{"a": "start'; yes '\n' | head -n $((BIG / 2)) | tr -d '\n'; printf 'end"}\n'; } >"$tmp/in"
run 60 "$tmp/in" "$tmp/out" --format=json
total "100 MB of \\n escapes in a JSON string"
if [ $have_json = 1 ]; then
    check "$([ "$(size "$tmp/out")" -lt 1000 ] && echo 0)" "100 MB of \\n escapes: $(size "$tmp/out") bytes left"
    check "$(jq -e .a "$tmp/out" >/dev/null 2>&1 && echo 0)" "100 MB of \\n escapes: output is not JSON"
fi
printf 'hostile: %s escapes %s bytes -> %s: %s ms, %s KiB\n' '\n' "$(size "$tmp/in")" "$(size "$tmp/out")" "$ms" "$kb"
rm -f "$tmp/in" "$tmp/out"

# Half a million lines, each with a defect: findings must not pile up.
awk 'BEGIN { for (i = 0; i < 200000; i++) printf "row %d                                        end\n", i }' >"$tmp/in"
run 60 "$tmp/in" "$tmp/out"
total "200000 defects"
check "$([ "$(size "$tmp/out")" -lt "$(size "$tmp/in")" ] && echo 0)" "200000 whitespace runs not fixed"
run 60 "$tmp/in" "$tmp/out" --flag --report="$tmp/report"
total "200000 defects, flagged"
check "$([ "$(wc -l <"$tmp/report")" = 200000 ] && echo 0)" "200000 defects: $(wc -l <"$tmp/report") findings reported"
echo "hostile: 200000 findings: ${ms} ms, ${kb} KiB"
rm -f "$tmp/report"

# A loop with a 16 KiB period, ten copies, then more text.
head -c 12288 /dev/urandom | base64 -w 0 >"$tmp/block"
{ printf 'Intro.\n\n'; for i in 1 2 3 4 5 6 7 8 9 10; do cat "$tmp/block"; printf '\n'; done; printf '\nEnd.\n'; } >"$tmp/in"
run 30 "$tmp/in" "$tmp/out"
total "16 KiB period loop"
[ $have_repeat = 1 ] && check "$([ "$(size "$tmp/out")" -lt 40000 ] && echo 0)" "16 KiB period loop: $(size "$tmp/out") bytes left"

# ---- bytes that pass through ------------------------------------------------
section bytes that pass through
ident() { # ident NAME PRINTF-FORMAT [repfix args]: output must be the input
    name=$1; printf "$2" >"$tmp/in"; shift 2
    run 5 "$tmp/in" "$tmp/out" "$@"
    total "$name"
    check "$(same "$tmp/in" "$tmp/out" && echo 0)" "$name: not byte-identical"
}
ident "NUL bytes" 'a\000b\000\000c\n\000\n| x\000 | y |\n|---|---|\n| \000 | 1 |\n'
ident "invalid UTF-8" 'bad \303\050 \377\376 \200 \355\240\200 end\n\360\220\200\n'
ident "overlong UTF-8" 'slash \300\257 and \340\200\257 and \370\210\200\200\257\n'
ident "CR-only line ends" 'one\rtwo\r\rthree\r\r\r\rfour\r'
ident "CRLF" '# T\r\n\r\n| a | b |\r\n|---|---|\r\n| 1 | 2 |\r\n\r\ntext\r\n'
ident "BOM" '\357\273\277# Title\n\nSome text.\n'
ident "BOM + table" '\357\273\277| a | b |\n|---|---|\n| 1 | 2 |\n'
ident "BOM in JSON" '\357\273\277{"a": "b"}\n' --format=json
ident "lone surrogates in JSON" '{"a": "x \\ud800 y \\udc00 z \\udbff\\u0041", "k\\ud800": 1}\n' --format=json
ident "lone surrogates in JSONL" '{"choices":[{"message":{"content":"lone \\ud800 and \\udfff\\n\\nok"}}]}\n' --format=jsonl
ident "invalid UTF-8 in JSONL" '{"choices":[{"message":{"content":"raw \377\376 bytes"}}]}\n' --format=jsonl
ident "NUL in JSON" '{"a": "x\000y"}\n' --format=json
ident "empty input" ''
ident "no final newline" 'last line'
ident "lone CR at end" 'text\r'
if [ $have_json = 1 ]; then
    printf '{"choices":[{"message":{"content":"\\ud800 then\\n\\n\\n\\n\\n\\nend"}}]}\n' >"$tmp/in"
    run 10 "$tmp/in" "$tmp/out" --format=jsonl
    total "lone surrogate in a repaired string"
    check "$(grep -qi 'ud800' "$tmp/out" && [ "$(size "$tmp/out")" -lt "$(size "$tmp/in")" ] && echo 0)" \
        "lone surrogate lost or string not repaired: $(cat "$tmp/out")"
fi

# ---- thresholds ------------------------------------------------------------
section thresholds
# thr NAME ACTIVE EXPECT PRINTF-FORMAT [args]: with the detector active,
# fix must change the text and --check exit 1, keep must not change it and
# --check exit 0; found / clean only look at --check (1 / 0; for flagged
# kinds). With the detector not active: only totality.
thr() {
    name=$1; active=$2; want=$3; printf "$4" >"$tmp/in"; shift 4
    run 5 "$tmp/in" "$tmp/out" "$@"
    total "$name"
    [ "$active" = 1 ] && [ $rc != 124 ] || return
    case $want in
    fix) check "$(same "$tmp/in" "$tmp/out" || echo 0)" "$name: should be repaired" ;;
    keep) check "$(same "$tmp/in" "$tmp/out" && echo 0)" "$name: should be left alone" ;;
    esac
    run 5 "$tmp/in" "$tmp/out" --check "$@"
    case $want in fix|found) want_rc=1 ;; *) want_rc=0 ;; esac
    check "$([ $rc = $want_rc ] && echo 0)" "$name: --check exit $rc, want $want_rc"
}
rep() { i=0; while [ $i -lt "$2" ]; do printf '%s' "$1"; i=$((i + 1)); done; }
after='\n\nNext paragraph.\n'
thr "blank lines 3 (prose)" 1 fix "a\n\n\n\nb\n"
thr "blank lines 2 (prose)" 1 keep "a\n\n\nb\n"
thr "blank lines 8 (code)" 1 fix "\`\`\`\na\n$(rep '\n' 8)b\n\`\`\`\n"
thr "blank lines 7 (code)" 1 keep "\`\`\`\na\n$(rep '\n' 7)b\n\`\`\`\n"
thr "spaces 32" 1 fix "a$(rep ' ' 32)b\n"
thr "spaces 31" 1 keep "a$(rep ' ' 31)b\n"
thr "escapes 4" 1 fix 'a \\n\\n\\n\\n b\n'
thr "escapes 3" 1 keep 'a \\n\\n\\n b\n'
p24="The cat sat on the mat. "          # 24 bytes
p23="The cat sat on the mat "           # 23 bytes
thr "period 24 x3" $have_repeat fix "Intro. $(rep "$p24" 3)$after"
thr "period 24 x2" $have_repeat keep "Intro. $(rep "$p24" 2)$after"
thr "period 23 x3" $have_repeat keep "Intro. $(rep "$p23" 3)$after"
thr "period 4 x16 (64 bytes)" $have_repeat fix "Intro $(rep 'own ' 16)$after"
thr "period 4 x15" $have_repeat keep "Intro $(rep 'own ' 15)$after"
thr "period 2 x32 (64 bytes)" $have_repeat fix "Intro $(rep 'ab' 32) x$after"
thr "period 2 x31 (62 bytes)" $have_repeat keep "Intro $(rep 'ab' 31) x$after"
thr "one char x256" $have_repeat fix "Wow$(rep '!' 256) ok$after"
thr "one char x255" $have_repeat keep "Wow$(rep '!' 255) ok$after"
thr "code line x16" $have_repeat fix "\`\`\`\n$(rep 'queue.add(() => delay(100));\n' 16)\`\`\`\n$after"
thr "code line x3" $have_repeat keep "\`\`\`\n$(rep 'queue.add(() => delay(100));\n' 3)\`\`\`\n$after"
num=""; i=1; while [ $i -le 17 ]; do num="$num* [$i.x](CHANGELOG_V$i.md)\n"; i=$((i + 1)); done
thr "numbered lines x17" $have_repeat keep "# Changelog\n\n$num\nMore text.\n"
thr "table separator" $have_table fix '| a | b |\n|:--------------------:|---|\n| 1 | 2 |\n'
thr "table separator 3 hyphens" $have_table keep '| a | b |\n|:---:|---|\n| 1 | 2 |\n'
calls() { # calls N: N identical OpenAI tool-call records
    i=0; while [ $i -lt "$1" ]; do printf "$rec"; i=$((i + 1)); done
}
recb='{"choices":[{"message":{"tool_calls":[{"type":"function","function":{"name":"g","arguments":"{\\"x\\":2}"}}]}}]}\n'
thr "tool calls x4" $have_toolcall found "$(calls 4)" --format=jsonl
thr "tool calls x3" $have_toolcall clean "$(calls 3)" --format=jsonl
thr "tool call cycle x3" $have_toolcall found "$rec$recb$rec$recb$rec$recb" --format=jsonl
thr "tool call cycle x2" $have_toolcall clean "$rec$recb$rec$recb" --format=jsonl

# ---- a slow producer: the format is told from the first line, not the first read
section a slow producer
sp=$( { printf '['; sleep 0.3; printf ' RUN      ] ok\nsome %s text\n' "                                        "; } |
    timeout 10 "$bin" 2>/dev/null)
check "$([ "$sp" = "$(printf '[ RUN      ] ok\nsome text')" ] && echo 0)" "a '[' read alone made the input JSON: '$sp'"

# ---- an endless producer -----------------------------------------------------
section an endless producer
if [ $have_repeat = 1 ]; then
    t0=$(now_ms)
    yes "Let me try again." | timeout 10 "$bin" --stop-on-loop >/dev/null 2>"$tmp/err"
    rc=$?; ms=$(($(now_ms) - t0))
    check "$([ $rc = 3 ] && [ $ms -lt 5000 ] && echo 0)" "endless loop on stdin: exit $rc after ${ms} ms (want 3, fast)"
else
    note "repeat detector not active: endless-loop (--stop-on-loop) check skipped"
fi
# without --stop-on-loop an endless producer streams: output keeps flowing
yes "Let me try again, with a different sentence each time." | head -c $MID | timeout 30 "$bin" >"$tmp/out" 2>"$tmp/err"
rc=$?
check "$([ $rc = 0 ] && [ -s "$tmp/out" ] && echo 0)" "yes | repfix: exit $rc"

# ---- outputs that fail -------------------------------------------------------
section outputs that fail
# a closed pipe: clear message, exit 2 (SIGPIPE is ignored, EPIPE reported)
head -c $MID /dev/urandom | base64 >"$tmp/in"
{ timeout 20 "$bin" <"$tmp/in" 2>"$tmp/err"; echo $? >"$tmp/rc"; } | head -c 10 >/dev/null
rc=$(cat "$tmp/rc")
check "$([ "$rc" = 2 ] && grep -qi 'pipe' "$tmp/err" && echo 0)" "closed pipe: exit $rc, message '$(head -c 200 "$tmp/err")'"
# a full device
printf 'some text\n' | timeout 10 "$bin" >/dev/full 2>"$tmp/err"
rc=$?
check "$([ $rc = 2 ] && grep -qi 'space' "$tmp/err" && echo 0)" "/dev/full: exit $rc, message '$(head -c 200 "$tmp/err")'"
printf 'x\n' | timeout 10 "$bin" --report=/dev/full >/dev/null 2>"$tmp/err"
rc=$?
note "--report=/dev/full with no findings: exit $rc"

# -o into a file system that fills up: no target, no temporary file left
nofile() { # nofile DIR NAME: the directory holds nothing
    check "$([ -z "$(ls -A "$1")" ] && echo 0)" "$2: files left behind: $(ls -A "$1" | head -n 3)"
}
head -c 2000000 /dev/urandom | base64 >"$tmp/in2"
mkdir -p "$tmp/full"
if [ "$(id -u)" = 0 ] && mount -t tmpfs -o size=256k tmpfs "$tmp/full" 2>/dev/null; then
    mounted="$tmp/full"
    timeout 20 "$bin" -o "$tmp/full/out.md" "$tmp/in2" 2>"$tmp/err"
    rc=$?
    check "$([ $rc = 2 ] && grep -qi 'space' "$tmp/err" && echo 0)" "-o on a full file system: exit $rc, '$(head -c 200 "$tmp/err")'"
    nofile "$tmp/full" "-o on a full file system"
    umount "$tmp/full"; mounted=""
else
    note "cannot mount a small tmpfs: using a file size limit for the full disk"
fi
# a file size limit (EFBIG; SIGXFSZ ignored) works without privileges
mkdir -p "$tmp/lim"
(trap '' XFSZ; ulimit -f 200; exec timeout 20 "$bin" -o "$tmp/lim/out.md" "$tmp/in2") 2>"$tmp/err"
rc=$?
check "$([ $rc = 2 ] && echo 0)" "-o over a file size limit: exit $rc, '$(head -c 200 "$tmp/err")'"
nofile "$tmp/lim" "-o over a file size limit"
# the same for --in-place: the original file stays as it was
cp "$tmp/in2" "$tmp/lim/doc.md"
(trap '' XFSZ; ulimit -f 200; exec timeout 20 "$bin" --in-place "$tmp/lim/doc.md") 2>"$tmp/err"
rc=$?
check "$([ $rc = 2 ] && same "$tmp/in2" "$tmp/lim/doc.md" && [ "$(ls -A "$tmp/lim")" = doc.md ] && echo 0)" \
    "--in-place over a file size limit: exit $rc, files: $(ls -A "$tmp/lim" | tr '\n' ' ')"
# a read-only directory
mkdir -p "$tmp/ro"
if [ "$(id -u)" != 0 ]; then
    chmod 555 "$tmp/ro"; rodir=$tmp/ro
elif mount -t tmpfs -o ro,size=64k tmpfs "$tmp/ro" 2>/dev/null; then
    mounted="$tmp/ro"; rodir=$tmp/ro
else
    rodir=/proc/self; note "read-only directory: using /proc/self"
fi
printf 'text\n' >"$tmp/small"
timeout 10 "$bin" -o "$rodir/out.md" "$tmp/small" 2>"$tmp/err"
rc=$?
check "$([ $rc = 2 ] && [ ! -e "$rodir/out.md" ] && [ -s "$tmp/err" ] && echo 0)" "-o into a read-only directory: exit $rc"
[ "$rodir" = "$tmp/ro" ] && nofile "$tmp/ro" "-o into a read-only directory"
[ -n "$mounted" ] && { umount "$mounted"; mounted=""; }
chmod 755 "$tmp/ro" 2>/dev/null
# a missing input and a directory as input: message, exit 2
timeout 10 "$bin" "$tmp/does-not-exist" >/dev/null 2>"$tmp/err"
check "$([ $? = 2 ] && [ -s "$tmp/err" ] && echo 0)" "missing input file"
timeout 10 "$bin" "$tmp" >/dev/null 2>"$tmp/err"
check "$([ $? = 2 ] && [ -s "$tmp/err" ] && echo 0)" "directory as input"

section done
echo "$passed passed, $failed failed"
[ $failed = 0 ]
