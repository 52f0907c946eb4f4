#!/usr/bin/env bash
# Builds the libFuzzer targets (Wire's decoders, the rules, the relay's state machines) and
# runs each for a bounded time.
#
#   fuzz/run.sh                  # every target, FUZZ_SECONDS each (default 60)
#   fuzz/run.sh packet syslog    # only these
#
# Corpora grow in fuzz/corpus-TARGET/ (not committed; seeds come from fuzz/seeds/).
# A crash leaves fuzz/artifacts/TARGET-crash-*; replay it without the fuzzer:
#   swift run fuzz-wire TARGET fuzz/artifacts/TARGET-crash-...
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${FUZZ_SECONDS:-60}"
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(packet signed payload syslog framing detect correlate registry usage evtx eventxml forwarded)

swift build -c release --product fuzz-wire --scratch-path .build-fuzz \
    -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library -Xswiftc -DFUZZING 2>&1 | tail -n 2
bin=.build-fuzz/release/fuzz-wire
mkdir -p fuzz/artifacts
status=0
for t in "${targets[@]}"; do
    corpus="fuzz/corpus-$t"
    mkdir -p "$corpus"
    [ -d "fuzz/seeds/$t" ] && cp -n fuzz/seeds/"$t"/* "$corpus"/ 2>/dev/null || true
    # EVTX seeds: the first chunk of a few of the shared samples (never committed: the
    # shared test data stays out of the repository).
    if [ "$t" = evtx ] && [ -z "$(ls -A "$corpus")" ]; then
        for f in ../shared/testdata/evtx/omerbenamram/samples/security.evtx ../shared/testdata/evtx/omerbenamram/samples/system.evtx \
            "../shared/testdata/evtx/omerbenamram/samples/E_Windows_system32_winevt_logs_Microsoft-Windows-CAPI2%4Operational.evtx"; do
            [ -f "$f" ] && dd if="$f" of="$corpus/$(basename "$f" .evtx | tr -c 'A-Za-z0-9_\n-' _).chunk" bs=4096 skip=1 count=16 status=none
        done
    fi
    log=$(mktemp)
    # detect: lines up to 64 KiB, each within 2 s (a slow match is a failure like a crash).
    limits=(-max_len=4096)
    [ "$t" = detect ] && limits=(-max_len=65536 -timeout=2)
    [ "$t" = evtx ] && limits=(-max_len=65536 -timeout=2)
    [ "$t" = eventxml ] && limits=(-max_len=65536 -timeout=2)
    [ "$t" = forwarded ] && limits=(-max_len=65536 -timeout=2)
    if FUZZ_TARGET="$t" "$bin" "$corpus" -max_total_time="$seconds" "${limits[@]}" -rss_limit_mb=2048 \
        -artifact_prefix="fuzz/artifacts/$t-" -print_final_stats=1 >"$log" 2>&1; then
        result="no crash"
    else
        result="CRASH (see fuzz/artifacts/$t-*)"
        status=1
        tail -n 40 "$log"
    fi
    runs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' || echo "?")
    cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -n 1 | grep -oE '[0-9]+' || echo "?")
    echo "fuzz $t: $runs executions in ${seconds}s, coverage $cov, $result"
    rm -f "$log"
done
exit $status
