#!/usr/bin/env bash
# Judge a real gateway: LiteLLM's proxy in front of the pixelproof vendor mock, all on loopback.
#
#   examples/litellm/run.sh [pixelproof run options...]      e.g. --rules 'size.*' -v
#
# It judges the rule suites (FINDINGS.md); contract fuzzing is off unless asked for
# (`run.sh --fuzz auto`): its findings are not in expected-failures.txt yet.
#
# Steps: a Python environment with this checkout's pixelproof (PIXELPROOF_PYTHON, or
# .venv-litellm-pp made once with `pip install -e .`); LiteLLM in its own cached virtual
# environment (examples/litellm/.venv); the vendor mock and the proxy on free loopback ports;
# `pixelproof run --target` against the proxy; then everything it started is stopped by process
# id, on success, failure or Ctrl-C.
#
# Exit code: pixelproof's (0 every promise kept, 1 a promise broken, 2 usage, 3 infrastructure
# errors only), or a setup failure: 10 the pixelproof environment, 11 installing LiteLLM,
# 12 the vendor mock did not start, 13 the proxy did not start.
#
# Environment (all optional):
#   PIXELPROOF_PYTHON       a python that imports pixelproof (default: make .venv-litellm-pp)
#   PIXELPROOF_LEVEL        the level the proxy is held to (default: the profile's, unified-gateway;
#                           openai-images judges it as the OpenAI pass-through it is)
#   LITELLM_VERSION         default 1.109.1 (1.107.0, a compromised release, is refused)
#   LITELLM_VENV            default examples/litellm/.venv (reused while version and overrides match)
#   MOCK_PORT, LITELLM_PORT default: free ports
#   LITELLM_START_TIMEOUT   seconds to wait for the proxy (default 180; it takes 15-30 s)
#   PIXELPROOF_REPORT_DIR   where the run directory goes (default reports/)
#   PIXELPROOF_RUN_ID       the run directory's name (default litellm-<UTC time>)
#   PIXELPROOF_LOG_DIR      logs of this run (default examples/litellm/logs/<run id>)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
LITELLM_VERSION="${LITELLM_VERSION:-1.109.1}"
LITELLM_VENV="${LITELLM_VENV:-$HERE/.venv}"
LITELLM_START_TIMEOUT="${LITELLM_START_TIMEOUT:-180}"
RUN_ID="${PIXELPROOF_RUN_ID:-litellm-$(date -u +%Y%m%dT%H%M%SZ)}"
REPORT_ROOT="${PIXELPROOF_REPORT_DIR:-$ROOT/reports}"
LOG_DIR="${PIXELPROOF_LOG_DIR:-$HERE/logs/$RUN_ID}"
HOST_PYTHON="${PYTHON:-python3}"
export NO_PROXY="127.0.0.1,localhost${NO_PROXY:+,$NO_PROXY}" no_proxy="127.0.0.1,localhost${no_proxy:+,$no_proxy}"

PIDS=()
T0=$(date +%s.%N)

say() { printf 'litellm-example: %s\n' "$*" >&2; }
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
fail() {  # fail CODE WHAT [LOG]
    say "FAILED: $2 (exit $1)"
    if [ -n "${3:-}" ] && [ -f "$3" ]; then
        say "last lines of $3:"
        tail -n 25 "$3" | sed 's/^/    /' >&2
    fi
    exit "$1"
}

alive() {  # a process that exists and is not a zombie
    [ -e "/proc/$1" ] && ! grep -q ') Z ' "/proc/$1/stat" 2>/dev/null
}

stop_pid() {
    local pid="$1" kids="" _
    alive "$pid" || { wait "$pid" 2>/dev/null || true; return 0; }
    if command -v pgrep >/dev/null; then kids="$(pgrep -P "$pid" || true)"; fi
    # shellcheck disable=SC2086  # kids is a list of process ids
    kill -TERM "$pid" $kids 2>/dev/null || true
    for _ in $(seq 1 40); do alive "$pid" || break; sleep 0.25; done
    # shellcheck disable=SC2086
    kill -KILL "$pid" $kids 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    local code=$?
    trap - EXIT INT TERM
    if [ "${#PIDS[@]}" -gt 0 ]; then
        say "stopping what this script started: pid ${PIDS[*]}"
        for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
    fi
    local total
    total="$(elapsed "$T0")"
    if [ -f "$LOG_DIR/timings.txt" ]; then echo "script_s=$total" >>"$LOG_DIR/timings.txt"; fi
    say "wall time: $total s in all (logs: $LOG_DIR)"
    exit "$code"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

wait_ready() {  # wait_ready URL PID TIMEOUT: 0 ready, 1 timed out, 2 the process ended
    # In the background so that a signal interrupts `wait` at once; the poller ends by itself
    # once the process it watches is gone (cleanup stops it).
    "$PP_PYTHON" - "$1" "$2" "$3" <<'PY' &
import sys, time, urllib.request
url, pid, deadline = sys.argv[1], sys.argv[2], time.monotonic() + float(sys.argv[3])
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
def alive():
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
while time.monotonic() < deadline:
    if not alive():
        sys.exit(2)
    try:
        with opener.open(url, timeout=2) as answer:
            if answer.status == 200:
                sys.exit(0)
    except Exception:
        pass
    time.sleep(0.25)
sys.exit(1)
PY
    wait "$!"
}

mkdir -p "$LOG_DIR" "$REPORT_ROOT"
if [ "$LITELLM_VERSION" = "1.107.0" ]; then
    fail 11 "litellm 1.107.0 is a compromised release; refusing to install it"
fi
say "run $RUN_ID: logs in $LOG_DIR"

# ------------------------------------------------------------------ 1. pixelproof
STEP=$(date +%s.%N)
if [ -n "${PIXELPROOF_PYTHON:-}" ]; then
    PP_PYTHON="$PIXELPROOF_PYTHON"
    say "step 1/5: pixelproof from PIXELPROOF_PYTHON=$PP_PYTHON"
else
    PP_VENV="$ROOT/.venv-litellm-pp"
    PP_PYTHON="$PP_VENV/bin/python"
    stamp="$(sha256sum "$ROOT/pyproject.toml" | cut -c1-16)"
    if [ "$(cat "$PP_VENV/.pixelproof-stamp" 2>/dev/null)" != "$stamp" ]; then
        say "step 1/5: installing this checkout's pixelproof into $PP_VENV (pip install -e .)"
        { "$HOST_PYTHON" -m venv "$PP_VENV" &&
            "$PP_PYTHON" -m pip install -q -e "$ROOT" &&
            echo "$stamp" >"$PP_VENV/.pixelproof-stamp"; } >"$LOG_DIR/install-pixelproof.log" 2>&1 ||
            fail 10 "could not install pixelproof into $PP_VENV" "$LOG_DIR/install-pixelproof.log"
    else
        say "step 1/5: pixelproof: reusing $PP_VENV"
    fi
fi
PP_FROM="$("$PP_PYTHON" -c 'import pixelproof; print(pixelproof.__file__)' 2>>"$LOG_DIR/install-pixelproof.log")" ||
    fail 10 "$PP_PYTHON cannot import pixelproof" "$LOG_DIR/install-pixelproof.log"
case "$PP_FROM" in
"$ROOT"/*) ;;
*) say "warning: pixelproof comes from $PP_FROM, not from this checkout ($ROOT)" ;;
esac

# ------------------------------------------------------------------ 2. LiteLLM
want="litellm[proxy]==$LITELLM_VERSION overrides:$(sha256sum "$HERE/overrides.txt" | cut -c1-16)"
if [ "$(cat "$LITELLM_VENV/.pixelproof-stamp" 2>/dev/null)" != "$want" ]; then
    say "step 2/5: installing litellm[proxy]==$LITELLM_VERSION into $LITELLM_VENV (uv, with overrides.txt)"
    rm -rf "$LITELLM_VENV"
    {
        "$HOST_PYTHON" -m venv "$LITELLM_VENV" &&
            "$LITELLM_VENV/bin/python" -m pip install -q uv &&
            "$LITELLM_VENV/bin/uv" pip install --python "$LITELLM_VENV/bin/python" \
                --override "$HERE/overrides.txt" "litellm[proxy]==$LITELLM_VERSION" &&
            { "$LITELLM_VENV/bin/python" -m compileall -q -j 0 "$LITELLM_VENV/lib" >/dev/null 2>&1 || true; } &&
            echo "$want" >"$LITELLM_VENV/.pixelproof-stamp"
    } >"$LOG_DIR/install-litellm.log" 2>&1 ||
        fail 11 "could not install litellm[proxy]==$LITELLM_VERSION" "$LOG_DIR/install-litellm.log"
else
    say "step 2/5: litellm[proxy]==$LITELLM_VERSION: reusing $LITELLM_VENV"
fi
INSTALL_S="$(elapsed "$STEP")"

# ------------------------------------------------------------------ 3. ports and keys
read -r FREE_A FREE_B < <("$PP_PYTHON" -c '
import socket
socks = [socket.socket() for _ in range(2)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))')
MOCK_PORT="${MOCK_PORT:-$FREE_A}"
LITELLM_PORT="${LITELLM_PORT:-$FREE_B}"
KEYS="$("$PP_PYTHON" -c 'import secrets; print("sk-pixelproof-" + secrets.token_hex(16), "sk-upstream-" + secrets.token_hex(16))')"
read -r MASTER_KEY UPSTREAM_KEY <<<"$KEYS"
MOCK_URL="http://127.0.0.1:$MOCK_PORT"
PROXY_URL="http://127.0.0.1:$LITELLM_PORT"

# ------------------------------------------------------------------ 4. mock and proxy
STEP=$(date +%s.%N)
say "step 3/5: starting the vendor mock on $MOCK_URL"
PIXELPROOF_UPSTREAM_KEY="$UPSTREAM_KEY" "$PP_PYTHON" -m pixelproof.cli mock --role upstream \
    --host 127.0.0.1 --port "$MOCK_PORT" --key-env PIXELPROOF_UPSTREAM_KEY >"$LOG_DIR/mock.log" 2>&1 &
MOCK_PID=$!
PIDS+=("$MOCK_PID")

say "step 4/5: starting the LiteLLM proxy on $PROXY_URL (10-30 s)"
(
    cd "$LOG_DIR"
    exec env LITELLM_OFFLINE_MODE=true LITELLM_LOCAL_MODEL_COST_MAP=True \
        LITELLM_MASTER_KEY="$MASTER_KEY" PIXELPROOF_UPSTREAM_KEY="$UPSTREAM_KEY" \
        PIXELPROOF_MOCK_OPENAI_BASE="$MOCK_URL/v1" PIXELPROOF_MOCK_GEMINI_BASE="$MOCK_URL/v1beta" \
        "$LITELLM_VENV/bin/litellm" --config "$HERE/litellm-config.yaml" \
        --host 127.0.0.1 --port "$LITELLM_PORT"
) >"$LOG_DIR/litellm.log" 2>&1 &
PROXY_PID=$!
PIDS+=("$PROXY_PID")

ready=0
wait_ready "$MOCK_URL/__pixelproof/requests?limit=1" "$MOCK_PID" 30 || ready=$?
case "$ready" in
0) say "vendor mock ready (pid $MOCK_PID)" ;;
2) fail 12 "the vendor mock exited during start-up" "$LOG_DIR/mock.log" ;;
*) fail 12 "the vendor mock did not answer within 30 s" "$LOG_DIR/mock.log" ;;
esac
ready=0
wait_ready "$PROXY_URL/health/liveliness" "$PROXY_PID" "$LITELLM_START_TIMEOUT" || ready=$?
case "$ready" in
0) say "LiteLLM proxy ready (pid $PROXY_PID) after $(elapsed "$STEP") s" ;;
2) fail 13 "the LiteLLM proxy exited during start-up" "$LOG_DIR/litellm.log" ;;
*) fail 13 "the LiteLLM proxy did not answer /health/liveliness within $LITELLM_START_TIMEOUT s" "$LOG_DIR/litellm.log" ;;
esac
START_S="$(elapsed "$STEP")"

# ------------------------------------------------------------------ 5. judge
PROFILE="$LOG_DIR/target.yaml"
sed -e "s#http://127.0.0.1:4000#$PROXY_URL#g" -e "s#http://127.0.0.1:8700#$MOCK_URL#g" \
    "$HERE/target.yaml" >"$PROFILE"
if [ -n "${PIXELPROOF_LEVEL:-}" ]; then echo "level: $PIXELPROOF_LEVEL" >>"$PROFILE"; fi
say "step 5/5: pixelproof run --target $PROFILE --fuzz off ${*:-}"
STEP=$(date +%s.%N)
set +e
(cd "$ROOT" && LITELLM_MASTER_KEY="$MASTER_KEY" "$PP_PYTHON" -m pixelproof.cli run \
    --target "$PROFILE" --report-dir "$REPORT_ROOT" --run-id "$RUN_ID" --fuzz off "$@") 2>&1 |
    tee "$LOG_DIR/pixelproof.log"
CODE=${PIPESTATUS[0]}
set -e
RUN_S="$(elapsed "$STEP")"

UPSTREAM_SEEN="$("$PP_PYTHON" - "$MOCK_URL" "$LOG_DIR/upstream-requests.json" <<'PY' 2>/dev/null || true
import collections, json, sys, urllib.request
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
with opener.open(sys.argv[1] + "/__pixelproof/requests?limit=5000", timeout=10) as answer:
    requests = json.load(answer)["requests"]
with open(sys.argv[2], "w", encoding="utf-8") as out:
    json.dump(requests, out, indent=1)
seen = collections.Counter(f"{r['method']} {r['path'].split(':')[0]}" for r in requests)
print("; ".join(f"{n} x {k}" for k, n in sorted(seen.items())))
PY
)"
say "what reached the mock upstream (upstream-requests.json): ${UPSTREAM_SEEN:-(recorder unreadable)}"
{
    echo "run_id=$RUN_ID"
    echo "report=$REPORT_ROOT/$RUN_ID"
    echo "exit_code=$CODE"
    echo "install_s=$INSTALL_S"
    echo "startup_s=$START_S"
    echo "pixelproof_run_s=$RUN_S"
} >"$LOG_DIR/timings.txt"
say "report: $REPORT_ROOT/$RUN_ID (exit $CODE)"
say "times: install/check $INSTALL_S s, mock+proxy start-up $START_S s, pixelproof run $RUN_S s"
exit "$CODE"
