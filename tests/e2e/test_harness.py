"""Checks of the harness itself, without libstatus: Bugsink takes a hand-made envelope, and
scripts/normalize_events.py reads events and envelopes and catches what Sentry would flag.
When these pass and test_bugsink.py fails, look at the library."""

import gzip
import json
import time
import urllib.parse
import urllib.request
import uuid

from conftest import exception_value
from normalize_events import check_paths, events_from_bytes, normalize, pii_leftovers


def hand_made_event(value, **extra):
    return {
        "event_id": uuid.uuid4().hex, "timestamp": time.time(), "platform": "native",
        "level": "fatal", "environment": "ci-main", "release": "libstatus@0.0.0",
        "tags": {"endpoint": "IntendedPanic"},
        "exception": {"values": [{"type": "panic", "value": value}]},
        "contexts": {"trace": {"type": "trace", "trace_id": uuid.uuid4().hex, "span_id": uuid.uuid4().hex[:16]}},
        **extra,
    }


def envelope(*events, with_length=True):
    parts = [json.dumps({"event_id": events[0]["event_id"]}).encode()] if events else [b"{}"]
    for ev in events:
        payload = json.dumps(ev).encode()
        header = {"type": "event", "length": len(payload)} if with_length else {"type": "event"}
        parts += [json.dumps(header).encode(), payload]
    return b"\n".join(parts) + b"\n"


def test_bugsink_stores_a_hand_made_envelope(bugsink):
    mark = "harness-" + uuid.uuid4().hex[:12]
    ev = hand_made_event(f"hand made {mark}")
    dsn = urllib.parse.urlsplit(bugsink.dsn)
    req = urllib.request.Request(
        f"{bugsink.url}/api{dsn.path}/envelope/", data=envelope(ev),
        headers={"Content-Type": "application/x-sentry-envelope",
                 "X-Sentry-Auth": f"Sentry sentry_version=7, sentry_key={dsn.username}, sentry_client=e2e/1"})
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status == 200
    stored = bugsink.get("events/lookup/", project=bugsink.project, event_id=ev["event_id"])
    assert exception_value(stored["data"]) == f"hand made {mark}"
    assert [m for m in bugsink.events_with([mark], timeout=5)] == [mark]
    assert normalize(stored["data"])[1] == []


def test_normalizer_flags_what_sentry_would(tmp_path):
    good = hand_made_event("fine")
    bad = hand_made_event("bad", level="bogus")
    bad["contexts"]["trace"]["trace_id"] = "zz"
    assert normalize(good)[1] == []
    problems = normalize(bad)[1]
    assert any(p.startswith("errors:") and "level" in p for p in problems), problems
    assert any(p.startswith("_meta contexts.trace.trace_id") for p in problems), problems

    (tmp_path / "good.json").write_text(json.dumps(good))
    (tmp_path / "good.envelope").write_bytes(envelope(good, good))
    (tmp_path / "nolength.envelope").write_bytes(envelope(good, with_length=False))
    (tmp_path / "good.envelope.gz").write_bytes(gzip.compress(envelope(good)))
    assert check_paths([str(tmp_path)]) == (5, 0)
    (tmp_path / "bad.envelope").write_bytes(envelope(good, bad))
    assert check_paths([str(tmp_path)]) == (7, 1)


def test_envelope_payload_with_newlines_and_attachments():
    ev = hand_made_event("x")
    payload = json.dumps(ev, indent=1).encode()  # newlines inside a length-delimited payload
    data = b"\n".join([b'{"event_id":"%s"}' % ev["event_id"].encode(),
                       b'{"type":"attachment","length":5,"filename":"a.txt"}', b"ab\ncd",
                       b'{"type":"event","length":%d}' % len(payload), payload])
    events = events_from_bytes(data, "e")
    assert [label for label, _ in events] == ["e[item 1: event]"]
    assert events[0][1] == ev


def test_pii_oracle_finds_what_relay_would_scrub_in_any_string():
    good = hand_made_event("called `Option::unwrap()` on a `None` value at ~/src/x.rs from ***")
    good["exception"]["values"][0]["stacktrace"] = {"frames": [
        {"function": "std::thread::spawn_unchecked::{{closure}}::{{closure}}", "filename": "src/api/mod.rs",
         "instruction_addr": "0x7f0012345678"}]}
    good["debug_meta"] = {"images": [{"type": "elf", "code_file": "libstatus.so",
                                      "debug_id": "0e9b6a4c-1a2b-3c4d-5e6f-001122334455", "image_addr": "0x7f0000000000"}]}
    assert pii_leftovers(good) == []
    assert normalize(good)[1] == []
    for where, text in [("value", "mail alice@example.com"), ("value", "at /home/alice/x"),
                        ("value", "from 10.1.2.3"), ("value", "Authorization: Bearer abc"),
                        ("tag", "card 4111 1111 1111 1111"), ("tag", "https://u:p@h.example/"),
                        ("frame", "/Users/bob/x.rs"), ("extra", "mac 00:1a:2b:3c:4d:5e")]:
        bad = hand_made_event("fine")
        if where == "value":
            bad["exception"]["values"][0]["value"] = text
        elif where == "tag":
            bad["tags"]["note"] = text
        elif where == "frame":
            bad["exception"]["values"][0]["stacktrace"] = {"frames": [{"filename": text}]}
        else:
            bad["extra"] = {"nested": [{"deep": text}]}
        problems = normalize(bad)[1]
        assert any(p.startswith("pii ") for p in problems), (where, text, problems)
