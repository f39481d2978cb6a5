#!/usr/bin/env bash
# Start / stop a throw-away Bugsink (a Sentry-compatible server) on loopback, for the e2e tests.
#
#   scripts/bugsink.sh install              # only create/update the venv ($VENV, default .venv)
#   scripts/bugsink.sh start ENVFILE        # install if needed, start Bugsink, write ENVFILE
#   . ENVFILE                               # exports BUGSINK_URL BUGSINK_TOKEN BUGSINK_DSN BUGSINK_PID
#                                           #         BUGSINK_PROJECT BUGSINK_DIR BUGSINK_LOG
#   scripts/bugsink.sh stop ENVFILE         # stop that server, remove its temp dir and ENVFILE
#
# `start` is idempotent: if ENVFILE describes a server that still answers, it is reused.
# Bugsink runs with its "local" template: SQLite, and snappea TASK_ALWAYS_EAGER=True, i.e. an
# envelope is digested inside the POST request itself (the event is readable through the API as
# soon as the 200 came back). Validation problems (VALIDATE_ON_DIGEST=warn) are written to
# $BUGSINK_LOG as "event data validation failed: ...". Nothing talks to anything but 127.0.0.1
# (phone-home is switched off).
set -euo pipefail

BUGSINK_VERSION=2.6.2
SENTRY_RELAY_VERSION=0.10.1
PYTEST_VERSION=9.2.0
# sim/plot.py draws docs/scale.md's picture with it.
MATPLOTLIB_VERSION=3.10.7

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-$ROOT/.venv}"
case "$VENV" in /*) ;; *) VENV="$ROOT/$VENV" ;; esac
PY="$VENV/bin/python"

log() { echo "bugsink.sh: $*" >&2; }
die() { log "$*"; exit 1; }

venv_ok() {
    [ -x "$PY" ] && "$PY" - "$BUGSINK_VERSION" "$SENTRY_RELAY_VERSION" "$PYTEST_VERSION" "$MATPLOTLIB_VERSION" <<'EOF' 2>/dev/null
import sys
from importlib.metadata import version
want = dict(zip(["bugsink", "sentry-relay", "pytest", "matplotlib"], sys.argv[1:]))
sys.exit(0 if all(version(p) == v for p, v in want.items()) else 1)
EOF
}

install() {
    if venv_ok; then return 0; fi
    log "installing bugsink==$BUGSINK_VERSION sentry-relay==$SENTRY_RELAY_VERSION pytest==$PYTEST_VERSION matplotlib==$MATPLOTLIB_VERSION into $VENV"
    [ -x "$PY" ] || python3 -m venv "$VENV"
    "$PY" -m pip install --quiet --disable-pip-version-check \
        "bugsink==$BUGSINK_VERSION" "sentry-relay==$SENTRY_RELAY_VERSION" "pytest==$PYTEST_VERSION" \
        "matplotlib==$MATPLOTLIB_VERSION"
    venv_ok || die "venv $VENV still lacks the pinned packages after pip install"
}

# Does the server described by ENVFILE still run and answer?
alive() {
    local envfile=$1
    [ -f "$envfile" ] || return 1
    (
        set +u
        # shellcheck disable=SC1090
        . "$envfile"
        [ -n "${BUGSINK_PID:-}" ] && kill -0 "$BUGSINK_PID" 2>/dev/null || exit 1
        "$PY" - "$BUGSINK_URL" "$BUGSINK_TOKEN" <<'EOF'
import sys, urllib.request
req = urllib.request.Request(sys.argv[1] + "/api/canonical/0/projects/",
                             headers={"Authorization": "Bearer " + sys.argv[2]})
urllib.request.urlopen(req, timeout=3).read()
EOF
    ) >/dev/null 2>&1
}

start() {
    local envfile=${1:?usage: $0 start ENVFILE}
    case "$envfile" in /*) ;; *) envfile="$PWD/$envfile" ;; esac
    install
    if alive "$envfile"; then
        log "reusing the server described in $envfile"
        return 0
    fi
    [ -f "$envfile" ] && stop "$envfile"

    local dir port
    dir="$(mktemp -d "${TMPDIR:-/tmp}/bugsink.XXXXXX")"
    port="$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    cd "$dir"
    "$VENV/bin/bugsink-create-conf" --template=local --host=127.0.0.1 --port="$port" >/dev/null
    cat >>bugsink_conf.py <<EOF

# --- added by libstatus scripts/bugsink.sh: keep everything in this temp dir, check events, stay offline
DATABASES["default"]["NAME"] = "$dir/db.sqlite3"
DATABASES["snappea"]["NAME"] = "$dir/snappea.sqlite3"
BUGSINK["VALIDATE_ON_DIGEST"] = "warn"
BUGSINK["PHONEHOME"] = False
BUGSINK["INGEST_STORE_BASE_DIR"] = "$dir/ingestion"
SNAPPEA["PID_FILE"] = "$dir/snappea.pid"
SNAPPEA["WAKEUP_CALLS_DIR"] = "$dir/snappea.wakeup"
EOF
    # Migrating takes ~7 s; the freshly migrated (empty) databases are kept in the venv, whose
    # Bugsink version is pinned, and copied on later starts.
    local cache="$VENV/.bugsink-$BUGSINK_VERSION-empty-db"
    if [ -f "$cache/db.sqlite3" ] && [ -f "$cache/snappea.sqlite3" ]; then
        cp "$cache/db.sqlite3" "$cache/snappea.sqlite3" .
    else
        # The two databases are independent: migrate them side by side (2 cores).
        "$VENV/bin/bugsink-manage" migrate --verbosity=0 >migrate.log 2>&1 &
        local mig=$!
        "$VENV/bin/bugsink-manage" migrate snappea --database=snappea --verbosity=0 >migrate-snappea.log 2>&1 \
            || { cat migrate-snappea.log >&2; die "snappea migration failed"; }
        wait "$mig" || { cat migrate.log >&2; die "migration failed"; }
        mkdir -p "$cache.tmp.$$" && cp db.sqlite3 snappea.sqlite3 "$cache.tmp.$$/" \
            && { mv -T "$cache.tmp.$$" "$cache" 2>/dev/null || rm -rf "$cache.tmp.$$"; }
    fi
    local token
    token="$("$VENV/bin/bugsink-manage" create_auth_token | tail -n 1)"
    [[ "$token" =~ ^[0-9a-f]{40}$ ]] || die "unexpected auth token: $token"

    # setsid: own process group, so nothing else gets our signals and we get none of theirs.
    setsid "$VENV/bin/bugsink-manage" runserver "127.0.0.1:$port" --noreload </dev/null >server.log 2>&1 &
    local pid=$!
    local url="http://127.0.0.1:$port"

    # Wait until it answers, create team + project, print the DSN.
    local out
    if ! out="$("$PY" - "$url" "$token" "$pid" <<'EOF'
import json, os, sys, time, urllib.request, urllib.error
url, token, pid = sys.argv[1], sys.argv[2], int(sys.argv[3])
api = url + "/api/canonical/0/"

def call(path, body=None):
    req = urllib.request.Request(api + path, method="POST" if body is not None else "GET",
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Authorization": "Bearer " + token,
                                          "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.load(r)

deadline = time.monotonic() + 60
while True:
    try:
        os.kill(pid, 0)
    except OSError:
        sys.exit("bugsink runserver exited during start-up")
    try:
        call("projects/")
        break
    except (urllib.error.URLError, ConnectionError, OSError):
        if time.monotonic() > deadline:
            sys.exit("bugsink did not answer within 60 s")
        time.sleep(0.1)

team = call("teams/", {"name": "libstatus-e2e"})
project = call("projects/", {"team": team["id"], "name": "libstatus"})
dsn = [p["dsn"] for p in call("projects/")["results"] if str(p["id"]) == str(project["id"])][0]
print(project["id"], dsn)
EOF
)"; then
        kill "$pid" 2>/dev/null || true
        cat server.log >&2
        die "could not set Bugsink up (its files are in $dir)"
    fi
    local project dsn
    read -r project dsn <<<"$out"

    {
        printf 'export BUGSINK_URL=%q\n' "$url"
        printf 'export BUGSINK_TOKEN=%q\n' "$token"
        printf 'export BUGSINK_DSN=%q\n' "$dsn"
        printf 'export BUGSINK_PID=%q\n' "$pid"
        printf 'export BUGSINK_PROJECT=%q\n' "$project"
        printf 'export BUGSINK_DIR=%q\n' "$dir"
        printf 'export BUGSINK_LOG=%q\n' "$dir/server.log"
    } >"$envfile.tmp"
    mv "$envfile.tmp" "$envfile"
    log "Bugsink $BUGSINK_VERSION at $url (pid $pid, project $project); settings in $envfile"
}

stop() {
    local envfile=${1:?usage: $0 stop ENVFILE}
    [ -f "$envfile" ] || { log "$envfile does not exist: nothing to stop"; return 0; }
    local BUGSINK_PID="" BUGSINK_DIR=""
    # shellcheck disable=SC1090
    . "$envfile"
    if [ -n "$BUGSINK_PID" ] && kill -0 "$BUGSINK_PID" 2>/dev/null; then
        kill "$BUGSINK_PID" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$BUGSINK_PID" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$BUGSINK_PID" 2>/dev/null && kill -KILL "$BUGSINK_PID" 2>/dev/null || true
    fi
    # Only ever remove a directory this script made.
    case "$BUGSINK_DIR" in
        */bugsink.??????) [ -f "$BUGSINK_DIR/bugsink_conf.py" ] && rm -rf "$BUGSINK_DIR" ;;
    esac
    rm -f "$envfile"
}

case "${1:-}" in
    install) install ;;
    start) start "${2:-}" ;;
    stop) stop "${2:-}" ;;
    *) echo "usage: $0 install | start ENVFILE | stop ENVFILE" >&2; exit 2 ;;
esac
