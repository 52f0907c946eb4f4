# Sourced by the edge benchmarks: builds the edge as it is deployed (release, Swift runtime
# linked statically, so isolated hosts need no Swift installation) and sets $edge_bin.
# EDGE_BIN=path uses another binary instead (for example the dynamically linked
# .build/release/edge, to compare).
if [ -n "${EDGE_BIN:-}" ]; then
    edge_bin="$EDGE_BIN"
else
    swift build -c release --product edge --static-swift-stdlib --scratch-path .build-static 2>&1 | tail -n 1
    edge_bin=.build-static/release/edge
fi
