#!/usr/bin/env bash
# Long randomized fuzzing of every API operation, stateful link chains included, against the mini
# catalogue in SQLite and in PostgreSQL (tests/api/test_schemathesis.py, run not derandomized).
#
#   bench/fuzz.sh [EXAMPLES]      EXAMPLES per operation and stateful scenarios per database (default 150)
#   FUZZ_SEED=123 bench/fuzz.sh   replays a run (the seed is printed first)
#
# Prints, per database, the generated cases, server errors, schema violations and every other failure
# kind with its first example; exits 1 if any case failed, if a database got no generated case, or if
# pytest itself failed. PostgreSQL is started by tests/conftest.py.
set -euo pipefail
cd "$(dirname "$0")/.."

examples="${1:-${FUZZ_EXAMPLES:-150}}"
seed="${FUZZ_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}"
report="$(mktemp)"
trap 'rm -f "$report"' EXIT
echo "fuzz: $examples examples per operation, $examples stateful scenarios per database, seed $seed"

start=$(date +%s)
status=0
PARTNERMATCH_FUZZ_EXAMPLES="$examples" PARTNERMATCH_FUZZ_REPORT="$report" HF_HUB_OFFLINE=1 \
    .venv/bin/pytest -q -p no:cacheprovider tests/api/test_schemathesis.py -k "not schema_links" \
    --hypothesis-seed="$seed" || status=$?
echo "fuzz: pytest exited $status after $(( $(date +%s) - start )) s"

.venv/bin/python - "$report" "$status" <<'PY'
import json
import sys

summaries = json.loads(open(sys.argv[1]).read() or "[]")
failed = not summaries or sys.argv[2] != "0"
for s in summaries:
    failed = failed or s["cases"] == 0  # nothing generated: nothing was fuzzed
    print(f"{s['database']:>10}: {s['cases']} generated cases ({s['stateful_cases']} in stateful scenarios), "
          f"{s['server_errors']} server errors, {s['schema_violations']} schema violations")
    for kind, count in sorted(s["failures"].items()):
        failed = failed or not kind.startswith("stateful run cut short")
        print(f"{'':>12}{count} x {kind}; first: {s['examples'][kind][:600]}")
sys.exit(1 if failed else 0)
PY
