#!/bin/sh
# Runs the libFuzzer targets (built by `make fuzz`) for SECONDS each, from
# the saved corpus plus the seeds (spec inputs and corpora/), then merges
# what they found into fuzz/corpus/TARGET/: only inputs that add coverage
# beyond the seeds are kept, each < 64 KiB, at most FUZZ_MAX_FILES (200).
# Crashes, leaks and timeouts are written to BUILD/fuzz/ (crash-*, ...).
# Usage: fuzz/run.sh BUILD SECONDS [TARGET...]
set -u
build=${1:-build}; secs=${2:-60}; shift 2 2>/dev/null || shift $#
targets=${*:-text json jsonl}
max_files=${FUZZ_MAX_FILES:-200}
fz=$build/fuzz
seeds=$fz/seeds
mkdir -p "$fz"
stamp=$fz/.started
touch "$stamp"
rm -rf "$seeds"
"$build/tests/fuzz_replay" --dump-seeds "$seeds" >/dev/null || { echo "fuzz: cannot write seeds" >&2; exit 2; }
status=0
for t in $targets; do
    bin=$fz/fuzz_$t
    case $t in json*) dict=fuzz/json.dict ;; *) dict=fuzz/text.dict ;; esac
    work=$fz/work/$t
    mkdir -p "$work" "fuzz/corpus/$t" "$seeds/$t"
    echo "fuzz: $t for ${secs}s"
    # fork mode goes on after a crash (a known open bug must not end the run)
    "$bin" -fork="${FUZZ_JOBS:-1}" -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 \
        -max_total_time="$secs" -max_len=65000 -timeout=20 -rss_limit_mb=2048 \
        -dict="$dict" -artifact_prefix="$fz/" -print_final_stats=1 \
        "$work" "fuzz/corpus/$t" "$seeds/$t" >"$fz/$t.log" 2>&1
    rc=$?
    grep -E '^#[0-9]+: cov: .* exec/s' "$fz/$t.log" | tail -n 1 | sed "s/^/fuzz: $t: /"
    grep -E 'repfix oracle|ERROR: (AddressSanitizer|LeakSanitizer)|runtime error' "$fz/$t.log" |
        sed 's/==[0-9]*==//; s/0x[0-9a-f]*/0x/g' | sort | uniq -c | sort -rn | head -n 12 | sed "s/^/fuzz: $t: /"
    if [ $rc != 0 ] || grep -q 'Test unit written\|crash-' "$fz/$t.log"; then
        status=1
    fi
    # minimize: start from the seeds, add only what brings new coverage
    merged=$fz/merged/$t
    rm -rf "$merged"; mkdir -p "$merged"
    cp -r "$seeds/$t"/. "$merged"/
    if "$bin" -merge=1 -max_len=65000 -timeout=20 -rss_limit_mb=2048 -artifact_prefix="$fz/merge-" \
        "$merged" "fuzz/corpus/$t" "$work" >"$fz/$t.merge.log" 2>&1; then
        rm -f "$merged"/seed-*
        # the smallest first if there are too many
        ls -S -r "$merged" | tail -n +$((max_files + 1)) | while read -r f; do rm -f "$merged/$f"; done
        find "$merged" -type f -size +63k -delete
        rm -rf "fuzz/corpus/$t"; mkdir -p "fuzz/corpus/$t"
        cp "$merged"/* "fuzz/corpus/$t"/ 2>/dev/null
        echo "fuzz: $t: corpus now $(ls "fuzz/corpus/$t" | wc -l) files"
    else
        echo "fuzz: $t: merge failed (see $fz/$t.merge.log); corpus unchanged"
        status=1
    fi
done
find "$fz" -maxdepth 1 -newer "$stamp" \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' \
    -o -name 'oom-*' \) | sed 's/^/fuzz: new artifact: /'
echo "fuzz: replay one with: $build/tests/fuzz_replay --show TARGET FILE"
exit $status
