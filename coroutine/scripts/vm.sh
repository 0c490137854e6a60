#!/usr/bin/env bash
# One run of N pages with --stack-kb KB against a page-server on port 8105
# (latency 1000 ms); samples VmSize and VmRSS 0.9 s in, while every page
# waits, then prints the run's summary.
# usage (from the workspace root): coroutine/scripts/vm.sh N KB
./target/release/coroutine --url http://127.0.0.1:8105 --latency-ms 1000 --pages "$1" --stack-kb "$2" > /tmp/coroutine-vm.out 2>&1 &
pid=$!
sleep 0.9
grep -E "VmSize|VmRSS" "/proc/$pid/status" | tr -s ' ' | tr '\n' ' '
wait "$pid"; echo "exit $?"
grep -E "^wall|^cpu" /tmp/coroutine-vm.out | tr '\n' ' '; echo
