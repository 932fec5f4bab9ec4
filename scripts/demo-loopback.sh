#!/usr/bin/env bash
# The main job of mcast, safe anywhere: a receiver and a sender over the
# loopback interface `lo` only (nothing leaves this host). The receiver joins
# 239.74.20.30:54321 on lo, the sender sends "hello world" ten times, and the
# receiver prints the ten messages and their source, then leaves the group.
# No root needed.
set -euo pipefail

cd "$(dirname "$0")/.."
if [[ ${1:-} == -h || ${1:-} == --help ]]; then
    sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
fi
cargo build --release --quiet
bin=target/release/mcast

"$bin" recv -i lo -c 10 --timeout 30s &
rx=$!
# Start sending once the receiver has joined (its membership is listed in
# /proc/net/igmp as 1E144AEF, 239.74.20.30 in the kernel's byte order).
for _ in $(seq 50); do
    grep -q 1E144AEF /proc/net/igmp 2>/dev/null && break
    sleep 0.1
done
"$bin" -q send -i lo -c 10 --interval 300ms
wait "$rx"
