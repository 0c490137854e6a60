#!/usr/bin/env bash
# Run the release binary REPEAT times with the given flags and print one line
# per run from its --json report: wall, ideal, ratio, CPU, peak RSS.
# usage (from the workspace root): coroutine/scripts/measure.sh REPEAT -- FLAGS...
set -euo pipefail
rep=$1; shift; shift
for _ in $(seq 1 "$rep"); do
  ./target/release/coroutine "$@" --json 2>/dev/null | python3 -c "
import json,sys
r=json.load(sys.stdin)
ideal=r['ideal_ms'] or 0
print('wall %7.1f ms  ideal %6.0f  x%.2f  cpu %6.1f ms  rss %6.1f MB  ok %d/%d' % (r['wall_ms'], ideal, r['wall_ms']/ideal if ideal else 0, r['cpu_ms'], r['max_rss_kb']/1024, r['ok'], r['pages']))" || true
done
