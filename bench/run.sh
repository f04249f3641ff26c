#!/usr/bin/env bash
# bench/run.sh - throughput and peak memory of repfix beside pipeline baselines.
#
#   bench/run.sh [SIZE_MB]          (default 256; `make bench` calls this)
#
# Builds bench/gen.c and bench/cjson_rt.c into build/bench/, generates the
# corpora there (kept and reused while the size and generator are unchanged),
# then times every row BENCH_RUNS times, alternating rows within each round so
# drift hits all rows alike. Wall time comes from bash's EPOCHREALTIME, peak
# RSS from GNU time's %M. MB/s uses MB = 10^6 bytes of input. The table goes
# to stdout and to bench/RESULTS.md; progress goes to stderr.
#
# Environment:
#   REPFIX             program under test (default build/repfix; `cat` works
#                      as a stand-in)
#   REPFIX_ARGS        extra arguments for every repfix run (default none)
#   REPFIX_JSONL_ARGS  arguments for the jsonl corpus (default --format=jsonl;
#                      set it empty when REPFIX is a stand-in like cat)
#   BENCH_RUNS         timed runs per row (default 5)
#   BENCH_LOOP_MB      size of the looping corpus; without it the loop check
#                      runs at 1024 MB only when SIZE_MB >= 1024
#   BENCH_LOOP_RUNS    runs for the loop rows (default 3)
#   BENCH_RESULTS      where to write the report (default bench/RESULTS.md)
#   CC, BENCH_CFLAGS   compiler and flags for the helpers (cc, -O2)
set -eu
export LC_ALL=C

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
out=$root/build/bench

SIZE_MB=${1:-256}
RUNS=${BENCH_RUNS:-5}
LOOP_RUNS=${BENCH_LOOP_RUNS:-3}
RESULTS=${BENCH_RESULTS:-$here/RESULTS.md}
CC=${CC:-cc}
BENCH_CFLAGS=${BENCH_CFLAGS:--O2}
REPFIX=${REPFIX:-$root/build/repfix}
REPFIX_ARGS=${REPFIX_ARGS:-}
JSONL_ARGS=${REPFIX_JSONL_ARGS---format=jsonl}

die() { echo "bench: $*" >&2; exit 2; }
say() { echo "bench: $*" >&2; }

case $SIZE_MB in '' | *[!0-9]* | 0) die "SIZE_MB must be a positive integer, not '$SIZE_MB'" ;; esac
case $RUNS in '' | *[!0-9]* | 0) die "BENCH_RUNS must be a positive integer" ;; esac
case $LOOP_RUNS in '' | *[!0-9]* | 0) die "BENCH_LOOP_RUNS must be a positive integer" ;; esac
if [ -n "${BENCH_LOOP_MB:-}" ]; then
    case $BENCH_LOOP_MB in *[!0-9]* | 0) die "BENCH_LOOP_MB must be a positive integer" ;; esac
    LOOP_MB=$BENCH_LOOP_MB
elif [ "$SIZE_MB" -ge 1024 ]; then
    LOOP_MB=1024
else
    LOOP_MB=
fi
[ -n "${EPOCHREALTIME:-}" ] || die "needs bash >= 5 (EPOCHREALTIME)"

# GNU time for peak RSS.
TIME=/usr/bin/time
if ! [ -x "$TIME" ]; then
    say "installing GNU time (package 'time')"
    if [ "$(id -u)" = 0 ] && command -v apt-get > /dev/null; then
        apt-get install -y -q time > /dev/null || die "apt-get install time failed"
    else
        die "$TIME missing: apt-get install time"
    fi
fi

mkdir -p "$out"
tmp=$(mktemp -d "$out/tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
notes=()

# ---- helpers --------------------------------------------------------------

# build SRC BIN [LIBS...]: compile when BIN is missing or older than SRC.
build() {
    local src=$1 bin=$2
    shift 2
    if ! [ -x "$bin" ] || [ "$src" -nt "$bin" ]; then
        say "building $(basename "$bin")"
        # shellcheck disable=SC2086
        "$CC" -std=c11 -Wall -Wextra $BENCH_CFLAGS -o "$bin" "$src" "$@"
    fi
}

build "$here/gen.c" "$out/gen"
have_cjson=1
if cjson_flags=$(pkg-config --cflags --libs libcjson 2> /dev/null); then
    # shellcheck disable=SC2086
    build "$here/cjson_rt.c" "$out/cjson_rt" $cjson_flags
else
    have_cjson=0
    notes+=("cjson_rt row skipped: libcjson not found by pkg-config (apt-get install libcjson-dev)")
fi

# corpus KIND MB EXT: path of the corpus, generated unless cached.
corpus() {
    local f=$out/$1-$2.$3
    if ! [ -s "$f" ] || [ "$out/gen" -nt "$f" ]; then
        say "generating $1 corpus, $2 MiB"
        "$out/gen" "$1" "$2" > "$f.part"
        mv "$f.part" "$f"
    fi
    printf '%s\n' "$f"
}

fsize() { stat -c %s "$1"; }

# real_corpus MB: the Markdown documents installed on this machine (package
# READMEs and changelogs under /usr), each once in path order with a blank
# line between, the whole set repeated until MB MiB (a repeat is megabytes
# long, far beyond the loop detector's reach). Empty when there are too few:
# the row is then skipped. Machine-dependent: the note says how many files.
real_corpus() {
    local f=$out/real-$1.md list=$out/real-files.txt set=$out/real-set.md
    if ! [ -s "$f" ]; then
        find /usr -xdev -type f \( -name '*.md' -o -name '*.markdown' \) -size +1k 2> /dev/null |
            LC_ALL=C sort > "$list"
        : > "$set"
        while IFS= read -r doc; do
            cat "$doc" >> "$set" && printf '\n\n' >> "$set"
        done < "$list"
        if [ "$(fsize "$set")" -lt 1048576 ]; then
            rm -f "$f"
            return
        fi
        say "building the real-document corpus, $1 MiB from $(wc -l < "$list") files"
        local want=$(($1 * 1048576))
        : > "$f.part"
        while [ "$(fsize "$f.part")" -lt "$want" ]; do cat "$set" >> "$f.part"; done
        head -c "$want" "$f.part" > "$f"
        rm -f "$f.part"
    fi
    printf '%s\n' "$f"
}

# Is REPFIX runnable? Name the row after it, so a stand-in is never taken
# for the real thing.
have_repfix=1
if rp=$(command -v "$REPFIX" 2> /dev/null) && [ -x "$rp" ]; then
    REPFIX=$rp
else
    have_repfix=0
    notes+=("repfix rows skipped: \`$REPFIX\` is not built (make) or not executable")
fi
rname=$(basename "$REPFIX")
if [ "$rname" = repfix ]; then rlabel=repfix; else rlabel="$rname (as repfix)"; fi
read -r -a rargs <<< "$REPFIX_ARGS" || true
read -r -a jargs <<< "$JSONL_ARGS" || true

# Rows of the current group: parallel arrays; a command's words are joined
# with the unit separator so paths with spaces survive.
US=$'\x1f'
labels=() modes=() cmds=()
row() { # LABEL MODE WORD...   (MODE: stdin | pipe | batch)
    local label=$1 mode=$2 IFS=$US
    shift 2
    labels+=("$label")
    modes+=("$mode")
    cmds+=("$*")
}

# measure I INPUT: one timed run of row I; sets m_secs, m_cpu (user + system
# seconds of all its threads), m_kib, m_rc.
measure() {
    local i=$1 input=$2 IFS=$US t0 t1 line
    local -a argv
    read -r -a argv <<< "${cmds[$i]}"
    IFS=$' \t\n'
    m_rc=0
    case ${modes[$i]} in
    stdin)
        t0=$EPOCHREALTIME
        "$TIME" -f '%U %S %M' -o "$tmp/rss" "${argv[@]}" < "$input" > /dev/null 2> "$tmp/err" || m_rc=$?
        t1=$EPOCHREALTIME ;;
    pipe)
        t0=$EPOCHREALTIME
        # shellcheck disable=SC2002 # the pipe is the point of this row
        cat "$input" | "$TIME" -f '%U %S %M' -o "$tmp/rss" "${argv[@]}" > /dev/null 2> "$tmp/err" || m_rc=$?
        t1=$EPOCHREALTIME ;;
    batch)
        rm -rf "$tmp/batch-out"
        mkdir "$tmp/batch-out"
        t0=$EPOCHREALTIME
        "$TIME" -f '%U %S %M' -o "$tmp/rss" "${argv[@]}" < /dev/null > /dev/null 2> "$tmp/err" || m_rc=$?
        t1=$EPOCHREALTIME
        rm -rf "$tmp/batch-out" ;;
    esac
    m_secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f", b - a }')
    line=$(tail -n 1 "$tmp/rss" 2> /dev/null || true)
    m_cpu=$(awk '{ printf "%.3f", $1 + $2 }' <<< "$line")
    line=${line##* }
    case $line in '' | *[!0-9]*) m_kib=0 ;; *) m_kib=$line ;; esac
}

# stats BYTES FILE: "median min max" MB/s from the seconds in FILE.
stats() {
    sort -g "$2" | awk -v bytes="$1" '
        { v[NR] = bytes / 1e6 / ($1 > 0 ? $1 : 1e-9) }
        END {
            # seconds ascending = MB/s descending
            n = NR; max = v[1]; min = v[n]
            med = (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
            printf "%.1f %.1f %.1f\n", med, min, max
        }'
}

fmt() { awk -v x="$1" 'BEGIN { if (x >= 100) printf "%.0f", x; else printf "%.1f", x }'; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

table=()   # Markdown rows of the results table
declare -A result  # "group/mode/label" -> "median min max peakKiB" or "failed"

# run_group GROUP INPUT BYTES NRUNS REF: time all rows, alternating; append
# to the table. REF names the row the "vs ref" column divides by.
run_group() {
    local group=$1 input=$2 bytes=$3 nruns=$4 ref=$5
    local n=${#labels[@]} r k i
    local -a failed peak
    for ((i = 0; i < n; i++)); do
        : > "$tmp/secs.$i"
        : > "$tmp/cpu.$i"
        failed[i]=""
        peak[i]=0
    done
    [ "${modes[0]}" = batch ] || cat "$input" > /dev/null # warm the page cache
    for ((r = 0; r < nruns; r++)); do
        say "$group: round $((r + 1))/$nruns"
        for ((k = 0; k < n; k++)); do
            i=$(((k + r) % n)) # rotate the starting row each round
            [ -z "${failed[i]}" ] || continue
            measure "$i" "$input"
            if [ "$m_rc" != 0 ]; then
                failed[i]="exit $m_rc: $(head -c 200 "$tmp/err" | head -n 1)"
                if [ "${modes[i]}" = pipe ]; then
                    notes+=("$group, cat FILE | ${labels[i]}: failed, ${failed[i]}")
                else
                    notes+=("$group, ${labels[i]}: failed, ${failed[i]}")
                fi
                continue
            fi
            echo "$m_secs" >> "$tmp/secs.$i"
            echo "$m_cpu" >> "$tmp/cpu.$i"
            [ "$m_kib" -le "${peak[i]}" ] || peak[i]=$m_kib
        done
    done
    local refmed=""
    for ((i = 0; i < n; i++)); do
        if [ "${labels[i]}" = "$ref" ] && [ "${modes[i]}" != pipe ] && [ -z "${failed[i]}" ]; then
            refmed=$(stats "$bytes" "$tmp/secs.$i" | cut -d' ' -f1)
        fi
    done
    local mb
    mb=$(awk -v b="$bytes" 'BEGIN { printf "%.0f", b / 1e6 }')
    for ((i = 0; i < n; i++)); do
        local label=${labels[i]} cmd med lo hi ratio cpu
        # GFM needs \| for a pipe inside a table cell, even in a code span
        if [ "${modes[i]}" = pipe ]; then cmd="\`cat FILE \\| ${label}\`"; else cmd="\`${label}\`"; fi
        if [ -n "${failed[i]}" ]; then
            table+=("| $group | $mb | $cmd | failed | ${failed[i]%%:*} | | | |")
            result["$group/${modes[i]}/$label"]=failed
            continue
        fi
        read -r med lo hi <<< "$(stats "$bytes" "$tmp/secs.$i")"
        ratio=""
        [ -z "$refmed" ] || ratio=$(awk -v a="$med" -v b="$refmed" 'BEGIN { printf "%.2f×", a / b }')
        cpu=$(sort -g "$tmp/cpu.$i" | awk '{ v[NR] = $1 } END { printf "%.2f", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')
        table+=("| $group | $mb | $cmd | $(fmt "$med") | $(fmt "$lo")–$(fmt "$hi") | $ratio | $cpu | $(mib "${peak[i]}") |")
        result["$group/${modes[i]}/$label"]="$med $lo $hi ${peak[i]}"
    done
    labels=() modes=() cmds=()
}

# ---- corpora --------------------------------------------------------------

f_clean=$(corpus clean "$SIZE_MB" md)
f_defective=$(corpus defective "$SIZE_MB" md)
f_jsonl=$(corpus jsonl "$SIZE_MB" jsonl)
f_loop=
[ -z "$LOOP_MB" ] || f_loop=$(corpus loop "$LOOP_MB" md)
f_real=$(real_corpus "$SIZE_MB")
if [ -n "$f_real" ]; then
    notes+=("real: $(wc -l < "$out/real-files.txt") Markdown files found under /usr ($(fsize "$out/real-set.md") bytes), repeated to $SIZE_MB MiB")
else
    notes+=("real rows skipped: under 1 MiB of Markdown documents under /usr")
fi

# ---- the text and JSONL corpora -------------------------------------------

for kind in clean real defective jsonl; do
    case $kind in
    clean) f=$f_clean ;;
    real) f=$f_real ;;
    defective) f=$f_defective ;;
    jsonl) f=$f_jsonl ;;
    esac
    [ -n "$f" ] || continue
    row cat stdin cat
    row "cat -s" stdin cat -s
    row "tr -s '\\n'" stdin tr -s '\n'
    row uniq stdin uniq
    ref="cat -s"
    if [ "$kind" = jsonl ] && [ "$have_cjson" = 1 ]; then
        row cjson_rt stdin "$out/cjson_rt"
        ref=cjson_rt
    fi
    extra=("${rargs[@]}")
    [ "$kind" != jsonl ] || extra+=("${jargs[@]}")
    rl=$rlabel
    [ ${#extra[@]} = 0 ] || rl="$rlabel ${extra[*]}"
    if [ "$have_repfix" = 1 ]; then
        row "$rl" stdin "$REPFIX" "${extra[@]}"
    fi
    row cat pipe cat
    if [ "$have_repfix" = 1 ]; then
        row "$rl" pipe "$REPFIX" "${extra[@]}"
    fi
    run_group "$kind" "$f" "$(fsize "$f")" "$RUNS" "$ref"
done

# ---- batch: two files, -j 1 against -j 2 -----------------------------------

batch_note=""
if [ "$have_repfix" = 1 ]; then
    mkdir -p "$tmp/probe" "$tmp/probe-out"
    printf 'hello\n' > "$tmp/probe/a.md"
    printf 'world\n' > "$tmp/probe/b.md"
    rc=0
    "$REPFIX" "${rargs[@]}" -j 2 -o "$tmp/probe-out" "$tmp/probe/a.md" "$tmp/probe/b.md" \
        < /dev/null > /dev/null 2> "$tmp/err" || rc=$?
    if [ "$rc" = 2 ]; then
        batch_note="batch rows skipped: \`$rname -j 2 -o DIR F1 F2\` exits 2 (not supported yet)"
    elif [ "$rc" != 0 ]; then
        batch_note="batch rows skipped: \`$rname -j 2 -o DIR F1 F2\` exits $rc: $(head -n 1 "$tmp/err")"
    elif ! [ -e "$tmp/probe-out/a.md" ] || ! [ -e "$tmp/probe-out/b.md" ]; then
        batch_note="batch rows skipped: \`$rname -j 2 -o DIR F1 F2\` wrote no DIR/a.md, DIR/b.md"
    fi
else
    batch_note="batch rows skipped: repfix is not built"
fi
if [ -z "$batch_note" ]; then
    # Two names for the clean corpus: equal work for both workers.
    mkdir -p "$out/batch"
    ln -sf "$f_clean" "$out/batch/a.md"
    ln -sf "$f_clean" "$out/batch/b.md"
    cat "$f_clean" > /dev/null
    for j in 1 2; do
        row "$rlabel -j $j -o DIR F1 F2" batch "$REPFIX" "${rargs[@]}" -j "$j" -o "$tmp/batch-out" \
            "$out/batch/a.md" "$out/batch/b.md"
    done
    run_group batch "$out/batch/a.md" $((2 * $(fsize "$f_clean"))) "$RUNS" "$rlabel -j 1 -o DIR F1 F2"
else
    notes+=("$batch_note")
fi

# ---- peak memory on a looping input ----------------------------------------

if [ -n "$f_loop" ]; then
    row cat stdin cat
    if [ "$have_repfix" = 1 ]; then
        row "$rlabel${rargs[*]:+ ${rargs[*]}}" stdin "$REPFIX" "${rargs[@]}"
    fi
    run_group loop "$f_loop" "$(fsize "$f_loop")" "$LOOP_RUNS" cat
else
    notes+=("loop rows skipped: SIZE_MB < 1024 (set BENCH_LOOP_MB to run them)")
fi

# ---- what came out: one untimed run per corpus ------------------------------

# A fast row means little if the output is wrong: the clean corpus must come
# out byte-identical, and the defective ones should shrink.
outputs=()
if [ "$have_repfix" = 1 ]; then
    for kind in clean real defective jsonl; do
        case $kind in
        clean) f=$f_clean ;;
        real) f=$f_real ;;
        defective) f=$f_defective ;;
        jsonl) f=$f_jsonl ;;
        esac
        [ -n "$f" ] || continue
        extra=("${rargs[@]}")
        [ "$kind" != jsonl ] || extra+=("${jargs[@]}")
        say "$kind: checking the output"
        rc=0
        "$REPFIX" "${extra[@]}" < "$f" > "$tmp/out" 2> "$tmp/err" || rc=$?
        if [ "$rc" != 0 ]; then
            outputs+=("| $kind | failed (exit $rc) | | |")
            result["$kind/identical"]=failed
        else
            ob=$(fsize "$tmp/out") ib=$(fsize "$f")
            if cmp -s "$tmp/out" "$f"; then same=yes; else same=no; fi
            outputs+=("| $kind | $ob | $(awk -v a="$ob" -v b="$ib" 'BEGIN { printf "%.3f", a / b }') | $same |")
            result["$kind/identical"]=$same
        fi
        rm -f "$tmp/out"
    done
fi

# ---- targets ----------------------------------------------------------------

targets=()
rrow() { printf '%s' "${result[$1]:-}"; } # "median min max peakKiB", "failed" or ""
target() { # WHAT GOAL MEASURED STATUS
    targets+=("| $1 | $2 | $3 | $4 |")
}
if [ "$have_repfix" = 1 ]; then
    rl_text=$rlabel
    [ ${#rargs[@]} = 0 ] || rl_text="$rlabel ${rargs[*]}"
    jextra=("${rargs[@]}" "${jargs[@]}")
    rl_json=$rlabel
    [ ${#jextra[@]} = 0 ] || rl_json="$rlabel ${jextra[*]}"

    a=$(rrow "clean/stdin/$rl_text") b=$(rrow "clean/stdin/cat -s")
    if [ -n "$a" ] && [ "$a" != failed ] && [ -n "$b" ] && [ "$b" != failed ]; then
        target "clean Markdown" "≥ \`cat -s\` (≈ 1 GB/s)" "$(fmt "${a%% *}") vs $(fmt "${b%% *}") MB/s" \
            "$(awk -v a="${a%% *}" -v b="${b%% *}" 'BEGIN { print (a >= b ? "met" : "not met") }')"
    fi
    a=$(rrow "real/stdin/$rl_text") b=$(rrow "real/stdin/cat -s")
    if [ -n "$a" ] && [ "$a" != failed ] && [ -n "$b" ] && [ "$b" != failed ]; then
        target "real Markdown documents" "≥ \`cat -s\`" "$(fmt "${a%% *}") vs $(fmt "${b%% *}") MB/s" \
            "$(awk -v a="${a%% *}" -v b="${b%% *}" 'BEGIN { print (a >= b ? "met" : "not met") }')"
    fi
    case ${result["clean/identical"]:-} in
    yes) target "identity on clean input" "clean corpus out byte-identical" "identical" met ;;
    no) target "identity on clean input" "clean corpus out byte-identical" "differs" "not met" ;;
    esac
    a=$(rrow "defective/stdin/$rl_text")
    if [ -n "$a" ] && [ "$a" != failed ]; then
        target "defective Markdown" "≥ 300 MB/s" "$(fmt "${a%% *}") MB/s" \
            "$(awk -v a="${a%% *}" 'BEGIN { print (a >= 300 ? "met" : "not met") }')"
    fi
    a=$(rrow "jsonl/stdin/$rl_json") b=$(rrow "jsonl/stdin/cjson_rt")
    if [ -n "$a" ] && [ "$a" != failed ] && [ -n "$b" ] && [ "$b" != failed ]; then
        target "JSONL" "within 1.5× of cJSON parse+print (≥ cjson_rt / 1.5)" \
            "$(fmt "${a%% *}") vs $(fmt "${b%% *}") MB/s" \
            "$(awk -v a="${a%% *}" -v b="${b%% *}" 'BEGIN { print (a * 1.5 >= b ? "met" : "not met") }')"
    fi
    a=$(rrow "batch/batch/$rlabel -j 1 -o DIR F1 F2") b=$(rrow "batch/batch/$rlabel -j 2 -o DIR F1 F2")
    if [ -n "$a" ] && [ "$a" != failed ] && [ -n "$b" ] && [ "$b" != failed ]; then
        target "batch" "\`-j 2\` close to 2× \`-j 1\` (≥ 1.8×)" \
            "$(awk -v a="${a%% *}" -v b="${b%% *}" 'BEGIN { printf "%.2f×", b / a }')" \
            "$(awk -v a="${a%% *}" -v b="${b%% *}" 'BEGIN { print (b / a >= 1.8 ? "met" : "not met") }')"
    fi
    peak_all=0
    for k in "clean/stdin/$rl_text" "real/stdin/$rl_text" "defective/stdin/$rl_text" "jsonl/stdin/$rl_json" \
        "clean/pipe/$rl_text" "defective/pipe/$rl_text" "jsonl/pipe/$rl_json"; do
        a=$(rrow "$k")
        if [ -z "$a" ] || [ "$a" = failed ]; then continue; fi
        v=${a##* }
        [ "$v" -le "$peak_all" ] || peak_all=$v
    done
    if [ "$peak_all" -gt 0 ]; then
        target "peak memory, all corpora" "a few MiB (≤ 16 MiB)" "$(mib "$peak_all") MiB" \
            "$(awk -v k="$peak_all" 'BEGIN { print (k <= 16 * 1024 ? "met" : "not met") }')"
    fi
    if [ -n "$f_loop" ]; then
        a=$(rrow "loop/stdin/$rlabel${rargs[*]:+ ${rargs[*]}}")
        if [ -n "$a" ] && [ "$a" != failed ]; then
            lmb=$(awk -v b="$(fsize "$f_loop")" 'BEGIN { printf "%.0f", b / 1048576 }')
            v=${a##* }
            target "peak memory, looping input" "< 64 MiB on 1 GiB" "$(mib "$v") MiB on $lmb MiB" \
                "$(awk -v k="$v" -v m="$lmb" 'BEGIN { print (k < 64 * 1024 ? (m >= 1024 ? "met" : "met (smaller input)") : "not met") }')"
        fi
    fi
fi

# ---- report -----------------------------------------------------------------

cpu=$(lscpu 2> /dev/null | sed -n 's/^Model name:[[:space:]]*//p' | head -n 1)
[ -n "$cpu" ] || cpu=unknown
commit=$(git -C "$root" rev-parse --short HEAD 2> /dev/null || echo uncommitted)
if [ "$commit" != uncommitted ] &&
    [ -n "$(git -C "$root" status --porcelain -- . ':!bench/RESULTS.md' 2> /dev/null)" ]; then
    commit="$commit + uncommitted changes"
fi
{
    echo "# repfix benchmark results"
    echo
    echo "- machine: $cpu, $(nproc) CPUs"
    echo "- compiler: $("$CC" --version 2> /dev/null | head -n 1)"
    echo "- commit: $commit"
    echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "- size: $SIZE_MB MiB per corpus${LOOP_MB:+, loop $LOOP_MB MiB}; $RUNS runs per row${LOOP_MB:+ ($LOOP_RUNS for loop)}, alternating"
    echo "- program: \`$REPFIX\`$([ "$rname" = repfix ] || echo " (a stand-in, not repfix)")"
    echo
    echo "MB/s is input bytes / 10^6 / wall seconds: median and min–max; \"vs ref\""
    echo "divides the median by the group's reference row (\`cat -s\`, \`cjson_rt\` for"
    echo "jsonl, \`-j 1\` for batch); CPU s is the median user + system time of the"
    echo "timed process (all its threads); peak is its largest RSS."
    echo
    echo "| corpus | MB | command | MB/s | min–max | vs ref | CPU s | peak MiB |"
    echo "|---|---:|---|---:|---:|---:|---:|---:|"
    printf '%s\n' "${table[@]}"
    if [ ${#outputs[@]} -gt 0 ]; then
        echo
        echo "## Output"
        echo
        echo "| corpus | output bytes | output / input | identical to input |"
        echo "|---|---:|---:|---|"
        printf '%s\n' "${outputs[@]}"
    fi
    if [ ${#targets[@]} -gt 0 ]; then
        echo
        echo "## Targets"
        echo
        echo "| what | target | measured | status |"
        echo "|---|---|---|---|"
        printf '%s\n' "${targets[@]}"
    fi
    if [ ${#notes[@]} -gt 0 ]; then
        echo
        echo "## Notes"
        echo
        printf -- '- %s\n' "${notes[@]}"
    fi
} > "$tmp/report.md"
cat "$tmp/report.md"
cp "$tmp/report.md" "$RESULTS"
say "wrote $RESULTS"
