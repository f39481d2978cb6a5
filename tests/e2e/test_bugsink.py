"""libstatus, loaded by a C-ABI host (ctypes, one process per scenario), reports to a real Bugsink.

What reaches the server is read back through Bugsink's API and checked: environment, tags,
release, the redacted panic message, nothing identifying the machine or the DSN, unique trace
ids, no validation warning from Bugsink, and no error or _meta from Sentry's own normaliser.
"""

import json
import re
import socket
import subprocess
import sys
import urllib.parse
import uuid

import pytest

from conftest import ROOT, exception_value
from normalize_events import normalize

SECRET = "hunter2"
TRACE_IDS = []  # every trace id seen in this session, across processes


def marker():
    return "e2e-" + uuid.uuid4().hex[:12]


def answers(run):
    return [c["answer"] for c in run["calls"]]


def tags_of(event):
    tags = event.get("tags") or {}
    if isinstance(tags, list):  # [[key, value], ...] is valid too
        tags = {t[0]: t[1] for t in tags}
    return tags


def all_keys(obj):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield k
            yield from all_keys(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from all_keys(v)


def token_re(word):
    """`word` not glued to letters or digits (so host name "vm" does not match "llvm")."""
    return re.compile(r"(?<![A-Za-z0-9])" + re.escape(word) + r"(?![A-Za-z0-9])")


def init_request(data_dir, dsn):
    return {"dataDir": str(data_dir), "sentryDSN": dsn, "logEnabled": True, "logLevel": "info"}


def assert_no_event(bugsink, mark):
    # Bugsink digests inside the POST and FlushPanicReports waited for delivery: a report that was
    # (wrongly) sent is already stored.
    leaked = [e for e in bugsink.events() if mark in (exception_value(e["data"]) or "")]
    assert not leaked, f"an event was reported although reporting is off: {json.dumps(leaked)[:2000]}"


# --------------------------------------------------------------------------- the main scenario

@pytest.fixture(scope="module")
def reported(bugsink, run_host, tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("datadir")
    api_mark, bg_mark = marker(), marker()
    api_msg = f'boom {{"password":"{SECRET}"}} {api_mark}'
    bg_msg = f'background {{"password":"{SECRET}"}} {bg_mark}'
    log_offset = bugsink.log_size()
    run = run_host([
        ["InitializeApplication", init_request(data_dir, bugsink.dsn)],
        ["CentralizedMetricsInfo"],
        ["ToggleCentralizedMetrics", {"enabled": True}],
        ["CentralizedMetricsInfo"],
        ["IntendedPanic", api_msg],
        ["IntendedBackgroundPanic", bg_msg],
        ["FlushPanicReports", 10000],
    ])
    found = bugsink.events_with([api_mark, bg_mark])
    return {
        "run": run, "data_dir": data_dir, "answers": answers(run),
        "api_mark": api_mark, "bg_mark": bg_mark, "api_msg": api_msg, "bg_msg": bg_msg,
        "found": found, "log": bugsink.log_since(log_offset),
    }


def the_events(reported):
    found = reported["found"]
    missing = [m for m in (reported["api_mark"], reported["bg_mark"]) if m not in found]
    assert not missing, (f"no event reached Bugsink for {missing}; the host saw "
                         f"{json.dumps(reported['run']['calls'], indent=1)}\nhost stderr:\n"
                         f"{reported['run']['stderr'][-3000:]}")
    for m, evs in found.items():
        assert len(evs) == 1, f"{len(evs)} events for one panic ({m})"
    return found[reported["api_mark"]][0]["data"], found[reported["bg_mark"]][0]["data"]


def test_abi_answers(reported):
    init, info_before, toggle, info_after, panic, bg, flush = reported["answers"]
    assert set(init) >= {"centralizedMetricsInfo", "panicReporting"}, init
    assert init["centralizedMetricsInfo"] == {"enabled": False, "userConfirmed": False}, init
    assert init["panicReporting"]["environment"] == "ci-main", init
    assert info_before == {"enabled": False, "userConfirmed": False}
    assert toggle == {"error": ""}
    assert info_after == {"enabled": True, "userConfirmed": True}
    assert panic.get("code") == "panic" and reported["api_mark"] in panic.get("error", ""), panic
    assert bg == {"error": ""}, bg
    assert flush == {"error": "", "pending": 0}, flush


def test_events_reach_bugsink(reported):
    the_events(reported)


def test_environment(reported):
    for ev in the_events(reported):
        assert ev.get("environment") == "ci-main"


def test_tags_and_release(reported, crate_version):
    pr = reported["answers"][0]["panicReporting"]
    name, version = pr.get("contextName") or "", pr.get("contextVersion") or ""
    api_ev, bg_ev = the_events(reported)
    assert tags_of(api_ev).get("endpoint") == "IntendedPanic", tags_of(api_ev)
    for ev in (api_ev, bg_ev):
        tags = tags_of(ev)
        assert ev.get("release") == f"{name or 'libstatus'}@{crate_version}", ev.get("release")
        if name:
            assert tags.get("context.name") == name, tags
        else:
            assert not tags.get("context.name"), tags
        if version:
            assert tags.get("context.version") == version, tags
        else:
            assert not tags.get("context.version"), tags


def test_panic_message_is_redacted(reported):
    api_ev, bg_ev = the_events(reported)
    for ev, prefix, mark in ((api_ev, "boom", reported["api_mark"]),
                             (bg_ev, "background", reported["bg_mark"])):
        value = exception_value(ev)
        assert re.fullmatch(prefix + r' \{\s*"password"\s*:\s*"\*\*\*"\s*\} ' + mark, value), value
        assert SECRET not in json.dumps(ev), "the secret reached the server"


def test_nothing_identifies_the_machine_or_the_dsn(reported, bugsink):
    dsn = bugsink.dsn
    public_key = urllib.parse.urlsplit(dsn).username
    home = reported["run"]["env"].get("HOME", "")
    hostname = socket.gethostname()
    problems = []
    for ev in the_events(reported):
        text = json.dumps(ev, ensure_ascii=False)
        if "server_name" in set(all_keys(ev)):
            problems.append(f"server_name {ev.get('server_name')!r}")
        if token_re(hostname).search(text):
            problems.append(f"host name {hostname!r}")
        for path in sorted({home, "/root"} - {"", "/"}):
            if re.search(re.escape(path) + r"(?![A-Za-z0-9_.-])", text):
                problems.append(f"home directory {path!r}")
        if dsn in text:
            problems.append("the DSN")
        if public_key in text:
            problems.append("the DSN's public key")
    assert not problems, "found in a stored event: " + "; ".join(problems)


def test_trace_ids_are_unique(reported):
    ids = []
    for ev in the_events(reported):
        trace_id = ((ev.get("contexts") or {}).get("trace") or {}).get("trace_id")
        assert trace_id and re.fullmatch(r"[0-9a-f]{32}", trace_id) and set(trace_id) != {"0"}, trace_id
        ids.append(trace_id)
    assert len(set(ids)) == len(ids), ids
    TRACE_IDS.extend(ids)


def test_bugsink_validates_events(reported):
    the_events(reported)
    warnings = [line for line in reported["log"].splitlines() if "validation failed" in line]
    assert not warnings, "\n".join(warnings)


def test_sentry_relay_accepts_events(reported, tmp_path):
    for ev in the_events(reported):
        _, problems = normalize(ev)
        assert not problems, "\n".join(problems)
    # and the command-line tool agrees, on the files as captured
    for i, ev in enumerate(the_events(reported)):
        (tmp_path / f"event{i}.json").write_text(json.dumps(ev))
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "normalize_events.py"), str(tmp_path)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 event(s) checked, 0 with problems" in proc.stdout, proc.stdout


# --------------------------------------------------------------------------- other processes

def test_opt_in_is_kept_for_the_next_process(reported, bugsink, run_host):
    the_events(reported)  # needs the first process to have opted in
    mark = marker()
    run = run_host([
        ["InitializeApplication", init_request(reported["data_dir"], bugsink.dsn)],
        ["IntendedPanic", f"again {mark}"],
        ["FlushPanicReports", 10000],
    ])
    init, panic, flush = answers(run)
    assert init["centralizedMetricsInfo"] == {"enabled": True, "userConfirmed": True}, init
    assert init["panicReporting"]["active"] is True, init
    assert panic.get("code") == "panic", panic
    assert flush == {"error": "", "pending": 0}, flush
    found = bugsink.events_with([mark])
    assert mark in found, "the second process's panic did not reach Bugsink"
    ev = found[mark][0]["data"]
    _, problems = normalize(ev)
    assert not problems, "\n".join(problems)
    trace_id = ev["contexts"]["trace"]["trace_id"]
    assert trace_id not in TRACE_IDS, "a trace id was reused by another process"


def test_no_report_without_opt_in(bugsink, run_host, tmp_path):
    mark = marker()
    run = run_host([
        ["InitializeApplication", init_request(tmp_path, bugsink.dsn)],
        ["IntendedPanic", f"not opted in {mark}"],
        ["IntendedBackgroundPanic", f"not opted in bg {mark}"],
        ["FlushPanicReports", 10000],
    ])
    init, panic, bg, flush = answers(run)
    assert init["panicReporting"]["active"] is False, init
    assert panic.get("code") == "panic", panic
    assert bg == {"error": ""}, bg
    assert flush == {"error": "", "pending": 0}, flush
    assert_no_event(bugsink, mark)


@pytest.mark.parametrize("sentry_environment", [None, "dev"])
def test_no_report_outside_ci_environments(bugsink, run_host, tmp_path, sentry_environment):
    mark = marker()
    run = run_host([
        ["InitializeApplication", init_request(tmp_path, bugsink.dsn)],
        ["ToggleCentralizedMetrics", {"enabled": True}],
        ["IntendedPanic", f"wrong environment {mark}"],
        ["FlushPanicReports", 10000],
    ], sentry_environment=sentry_environment)
    init, toggle, panic, flush = answers(run)
    if init["panicReporting"].get("environment") == "production":
        pytest.skip("a production build reports in every environment")
    assert init["panicReporting"]["active"] is False, init
    assert toggle == {"error": ""}, toggle
    assert panic.get("code") == "panic", panic
    assert flush == {"error": "", "pending": 0}, flush
    assert_no_event(bugsink, mark)


def test_report_made_while_the_server_is_down_arrives_later(bugsink, run_host, tmp_path):
    """The library keeps reports in dataDir until a server took them (its durable outbox)."""
    with socket.socket() as s:  # a port on which nothing listens
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    parts = urllib.parse.urlsplit(bugsink.dsn)
    down_dsn = parts._replace(netloc=f"{parts.username}@127.0.0.1:{closed_port}").geturl()
    mark = marker()
    run = run_host([
        ["InitializeApplication", init_request(tmp_path, down_dsn)],
        ["ToggleCentralizedMetrics", {"enabled": True}],
        ["IntendedPanic", f"while down {mark}"],
        ["FlushPanicReports", 500],
    ])
    flush = answers(run)[-1]
    assert flush == {"error": "", "pending": 1}, flush
    assert_no_event(bugsink, mark)
    run = run_host([
        ["InitializeApplication", init_request(tmp_path, bugsink.dsn)],
        ["FlushPanicReports", 10000],
    ])
    init, flush = answers(run)
    assert init["panicReporting"]["active"] is True, init
    assert flush == {"error": "", "pending": 0}, flush
    found = bugsink.events_with([mark], timeout=5)
    assert mark in found, "the report queued while the server was down never arrived"
    ev = found[mark][0]["data"]
    assert parts.username not in json.dumps(ev), "the DSN's public key is in the event"
    _, problems = normalize(ev)
    assert not problems, "\n".join(problems)
