"""One issue per panic site in Bugsink, whatever the message: two panic sites, two messages each,
make exactly two issues (the event's fingerprint is the site; the message stays the value)."""

import uuid

from conftest import exception_value


def issues_by_marker(bugsink, markers):
    """For each marker, the ids of the issues holding an event whose exception value contains it."""
    found = {m: set() for m in markers}
    for issue in bugsink._paged("issues/", project=bugsink.project):
        for ev in bugsink._paged("events/", issue=issue["id"]):
            detail = bugsink.get(f"events/{ev['id']}/")
            value = exception_value(detail["data"]) or ""
            for m in markers:
                if m in value:
                    found[m].add(issue["id"])
    return found


def test_two_sites_times_two_messages_make_two_issues(bugsink, run_host, tmp_path):
    marks = {name: "group-" + uuid.uuid4().hex[:12] for name in ("api1", "api2", "bg1", "bg2")}
    run = run_host([
        ["InitializeApplication", {"dataDir": str(tmp_path), "sentryDSN": bugsink.dsn}],
        ["ToggleCentralizedMetrics", {"enabled": True}],
        ["IntendedPanic", f"first message {marks['api1']}"],
        ["IntendedPanic", f"a different message {marks['api2']}"],
        ["IntendedBackgroundPanic", f"first message {marks['bg1']}"],
        ["IntendedBackgroundPanic", f"another one {marks['bg2']}"],
        ["FlushPanicReports", 10000],
    ])
    assert run["calls"][-1]["answer"] == {"error": "", "pending": 0}, run["calls"]
    found = issues_by_marker(bugsink, list(marks.values()))
    for name, mark in marks.items():
        assert len(found[mark]) == 1, f"{name}: {found}"
    issue = {name: next(iter(found[mark])) for name, mark in marks.items()}
    assert issue["api1"] == issue["api2"], f"one site, two issues: {issue}"
    assert issue["bg1"] == issue["bg2"], f"one site, two issues: {issue}"
    assert issue["api1"] != issue["bg1"], f"two sites, one issue: {issue}"
    assert len(set(issue.values())) == 2, issue
