#!/usr/bin/env bash
# Start-up benchmark: a fresh clone to a service answering with the README's run command (`make run`,
# venv included), then a warm restart of the same service, with embedding-cache hits/misses and the
# service's peak memory. Prints the figures; everything runs on 127.0.0.1 and is stopped at the end.
#   bench/startup.sh
set -euo pipefail
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

git clone -q "$repo" "$work/partnermatch"
cd "$work/partnermatch"
start=$(date +%s.%N)
PORT=$port make run >"$work/first.log" 2>&1 &
wait_health 900 $! "$work/first.log"
first=$(echo "$(date +%s.%N) - $start" | bc)
pid=$(serve_pid)
echo "fresh clone -> answering /health: ${first} s (venv, install, db init, first start)"
grep -o "embedding cache: [0-9]* shipped vectors added" "$work/first.log" || true
grep -o "embeddings: [0-9]* cached, [0-9]* embedded" "$work/first.log" | tail -1 || true
kill "$pid"; wait 2>/dev/null || true

start=$(date +%s.%N)
.venv/bin/partnermatch serve --host 127.0.0.1 --port "$port" >"$work/warm.log" 2>&1 &
wait_health 120 $! "$work/warm.log"
warm=$(echo "$(date +%s.%N) - $start" | bc)
pid=$(serve_pid)
echo "warm restart -> answering /health: ${warm} s"
grep -o "embeddings: [0-9]* cached, [0-9]* embedded" "$work/warm.log" | tail -1
key=$(.venv/bin/partnermatch keys create startup-bench --role office 2>/dev/null)
curl -fsS -X POST "http://127.0.0.1:$port/suggestions" -H "X-API-Key: $key" -H 'content-type: application/json' \
  -d '{"requester_id": "pic-959424479", "programme": "horizon-europe", "areas": ["water"], "k": 10}' >/dev/null
echo "peak memory of the service (VmHWM, after one suggestion): $(grep VmHWM /proc/"$pid"/status | awk '{print $2/1024 " MiB"}')"
