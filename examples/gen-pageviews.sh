#!/usr/bin/env bash
# Print N JSON page views (default 100000), one per line, for
#   examples/gen-pageviews.sh 100000 | sluice produce pageviews
# Event i has event_time = now - N*100ms + i*100ms, so they span the last
# N/10 seconds. Every 500th line is malformed on purpose, to show
# on_error: dead_letter at work.
set -euo pipefail
n=${1:-100000}
now_ms=$(($(date +%s) * 1000))
awk -v n="$n" -v now="$now_ms" 'BEGIN {
  split("DE FR US BR JP IN NG GB", country, " ")
  for (i = 0; i < n; i++) {
    if (i % 500 == 499) { print "{\"user_id\": \"not a number\""; continue }
    printf("{\"user_id\":%d,\"page\":\"/products/%d\",\"referrer\":\"https://example.com/r/%d\",\"country\":\"%s\",\"duration_ms\":%d,\"event_time\":%.0f}\n",
      i % 100003, i % 997, i % 13, country[i % 8 + 1], (i * 7) % 30000, now - n * 100 + i * 100)
  }
}'
