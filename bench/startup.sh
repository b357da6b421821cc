#!/usr/bin/env bash
# Start-up benchmark: a fresh clone to a service answering with the README's run command (`make run`,
# venv included), then a warm restart of the same service (saved indexes loaded), with embedding-cache
# hits/misses and the service's peak memory; then an owner profile is imported and the first start after
# that change (the matching index rebuilt, never the stale one reused) and the one after it are timed.
# Prints the figures; everything runs on 127.0.0.1 and is stopped at the end.
#   bench/startup.sh
set -euo pipefail
export COLUMNS=250  # rich wraps log lines at the terminal width; the greps below need them whole
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

wait_health() {  # $1: deadline in seconds, $2: pid of the starting command (stop waiting if it dies)
  local t0=$SECONDS
  until curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1; do
    (( SECONDS - t0 < $1 )) || { echo "no answer within $1 s"; return 1; }
    kill -0 "$2" 2>/dev/null || { echo "the service exited; its log:"; tail -20 "$3"; return 1; }
    sleep 0.2
  done
}
serve_pid() { pgrep -f "partnermatch serve --host 127.0.0.1 --port $port" | head -1; }

start_service() {  # $1: log name; sets $elapsed: seconds from `partnermatch serve` to /health answering
  local start log=$work/$1.log
  start=$(date +%s.%N)
  .venv/bin/partnermatch serve --host 127.0.0.1 --port "$port" >"$log" 2>&1 &
  wait_health 300 $! "$log"
  elapsed=$(echo "$(date +%s.%N) - $start" | bc)
}
indexes() {  # which indexes a start loaded from their saved files and which it built; texts embedded
  grep -o "institution index: [0-9]* institutions, [a-z]*" "$work/$1.log" | sed 's/ from$//' | tr '\n' ';'
  grep -o "matching index: .*, \(loaded\|built\)" "$work/$1.log" | grep -o "\(loaded\|built\)$" | sed 's/^/ matching index /' | tr '\n' ';'
  grep -o " embeddings: [0-9]* cached, [0-9]* embedded" "$work/$1.log" | tail -1
}

git clone -q "$repo" "$work/partnermatch"
cd "$work/partnermatch"
start=$(date +%s.%N)
PORT=$port make run >"$work/first.log" 2>&1 &
wait_health 900 $! "$work/first.log"
first=$(echo "$(date +%s.%N) - $start" | bc)
pid=$(serve_pid)
echo "fresh clone -> answering /health: ${first} s (venv, install, db init, first start)"
grep -o "embedding cache: [0-9]* shipped vectors added" "$work/first.log" || true
indexes first || true
kill "$pid"; wait 2>/dev/null || true

start_service warm; warm=$elapsed
pid=$(serve_pid)
echo "warm restart -> answering /health: ${warm} s"
indexes warm
key=$(.venv/bin/partnermatch keys create startup-bench --role office 2>/dev/null)
curl -fsS -X POST "http://127.0.0.1:$port/suggestions" -H "X-API-Key: $key" -H 'content-type: application/json' \
  -d '{"requester_id": "pic-959424479", "programme": "horizon-europe", "areas": ["water"], "k": 10}' >/dev/null
echo "peak memory of the service (VmHWM, after one suggestion): $(grep VmHWM /proc/"$pid"/status | awk '{print $2/1024 " MiB"}')"
kill "$pid"; wait 2>/dev/null || true

# A catalogue change as an office makes it: an owner profile imported. The saved matching index is now stale.
printf '[{"id": "pic-959424479", "profile": "%s"}]' "Water resource management, hydrology and irrigation in \
Central Asia; machine learning for crop yield and drought forecasting." >"$work/office.json"
.venv/bin/partnermatch import institutions "$work/office.json" >/dev/null 2>&1
start_service changed; changed=$elapsed
echo "first start after an owner profile was imported -> answering /health: ${changed} s"
indexes changed
kill "$(serve_pid)"; wait 2>/dev/null || true
start_service again; again=$elapsed
echo "the start after that -> answering /health: ${again} s"
indexes again
