#!/usr/bin/env python3
"""Run captured Sentry events through Sentry's own normaliser (sentry-relay) and fail on problems.

    normalize_events.py [--allow-empty] [-v] PATH...

Each PATH is a file or a directory (searched recursively). A file is either
  * one event as JSON (a Bugsink API event, {"id":..,"data":{event}}, is unwrapped too), or
  * a Sentry envelope: a header line, then pairs of item header line + payload (the payload is
    `length` bytes when the item header gives one, else up to the next newline); the `event` and
    `transaction` items are checked, other items (attachments, sessions, ...) are skipped.
gzip-compressed files are decompressed first.

Every event goes through sentry_relay.processing.StoreNormalizer(project_id=1).normalize_event(),
i.e. what Sentry does before storing it. Any entry in the result's `errors` or `_meta` is a problem.

Every event also goes through Relay's own PII rules (sentry_relay.pii_strip_event with the built-in
@ip @email @userpath @bearer @pemkey @creditcard @iban @imei @mac @urlauth rules, PII_RULES below),
as an outside oracle for the library's redaction: anything those rules would still remove or
replace is a problem. Relay applies `$string` rules only to the fields its schema marks as PII
(not to tags, culprit, exception types or frame fields), so every string of the event is copied,
under its path, into `extra` of a probe event, which the rules do reach. A few fields are
identifiers the SDK generates or addresses of code, never user data, and are left out of the probe
(PII_EXEMPT, each with its reason); one rule misreads Rust symbols (PII_EXEMPT_RULES).
Exit status: 0 all events clean, 1 a problem (printed) or no event found (unless --allow-empty),
2 usage error.

Needs the `sentry-relay` package (scripts/bugsink.sh installs it into the venv).
"""

from __future__ import annotations

import argparse
import gzip
from fnmatch import fnmatchcase
import json
import os
import sys
from typing import Any, Iterator

CHECKED_ITEM_TYPES = ("event", "transaction")

PII_RULES = [
    "@ip:replace",
    "@email:replace",
    "@userpath:replace",
    "@bearer:replace",
    "@pemkey:replace",
    "@creditcard:filter",
    "@iban:filter",
    "@imei:replace",
    "@mac:replace",
    "@urlauth:replace",
]

# Paths (fnmatch patterns over the dotted path of a string in the event) that are not user data.
PII_EXEMPT = {
    "event_id": "a random UUID the SDK draws per event",
    "contexts.trace.trace_id": "random, fresh per event (see scrub.rs)",
    "contexts.trace.span_id": "random, fresh per event",
    "timestamp": "the time of the event",
    "start_timestamp": "the time of the event",
    "debug_meta.images.*.debug_id": "the build id of libstatus.so, the same for every user",
    "debug_meta.images.*.code_id": "the build id of libstatus.so, the same for every user",
    "debug_meta.images.*.image_addr": "a load address of code",
    "debug_meta.images.*.image_vmaddr": "a load address of code",
    "*.frames.*.instruction_addr": "an address of code",
    "*.frames.*.symbol_addr": "an address of code",
    "*.frames.*.image_addr": "an address of code",
}

# (path pattern, rule) pairs where a rule misreads a field that is not user data.
PII_EXEMPT_RULES = {
    ("*.frames.*.function", "@ip:replace"): (
        "a Rust symbol of the library's own code, the same for every user: the `}}::{{` of closure "
        "names (`spawn_unchecked::{{closure}}::{{closure}}`) reads as the IPv6 address `::`"
    ),
}

_normalizer = None


def _get_normalizer():
    global _normalizer
    if _normalizer is None:
        from sentry_relay.processing import StoreNormalizer

        _normalizer = StoreNormalizer(project_id=1)
    return _normalizer


def normalize(event: dict) -> tuple[dict | None, list[str]]:
    """Normalise one event; answer (normalised event or None, list of problems as text)."""
    try:
        result = _get_normalizer().normalize_event(event=event)
    except Exception as e:  # relay rejects the event outright
        return None, [f"sentry-relay refused the event: {type(e).__name__}: {e}"]
    problems = []
    for err in result.get("errors") or []:
        problems.append("errors: " + json.dumps(err, sort_keys=True))
    for path, meta in _flatten_meta(result.get("_meta") or {}):
        problems.append(f"_meta {path or '(root)'}: " + json.dumps(meta, sort_keys=True))
    problems.extend(pii_leftovers(event))
    return result, problems


def _strings(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Every string leaf of a JSON value, with its dotted path (keys of objects included)."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            sub = f"{path}.{key}" if path else str(key)
            yield f"{sub}.(key)", str(key)
            yield from _strings(item, sub)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, f"{path}.{index}" if path else str(index))


def _exempt(path: str) -> bool:
    return any(fnmatchcase(path, pattern) for pattern in PII_EXEMPT)


def pii_leftovers(event: dict) -> list[str]:
    """What Relay's PII rules would still remove from the event's strings, as text; [] when nothing."""
    import sentry_relay

    probe = {path: text for path, text in _strings(event) if not _exempt(path)}
    try:
        result = sentry_relay.pii_strip_event({"applications": {"$string": PII_RULES}}, {"extra": probe})
    except Exception as e:
        return [f"sentry-relay pii_strip_event failed: {type(e).__name__}: {e}"]
    problems = []
    for path, meta in _flatten_meta(((result.get("_meta") or {}).get("extra")) or {}):
        # The meta path is `<event path>` (one key of the probe: dots inside it are not nesting).
        text = probe.get(path, "")
        for rule, *_ in (meta.get("rem") or []) if isinstance(meta, dict) else []:
            if any(r == rule and fnmatchcase(path, p) for p, r in PII_EXEMPT_RULES):
                continue
            problems.append(f"pii {path}: {rule} would still scrub {text[:200]!r}")
        if not (isinstance(meta, dict) and meta.get("rem")):
            problems.append(f"pii {path}: " + json.dumps(meta, sort_keys=True))
    return problems


def _flatten_meta(meta: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """_meta mirrors the event; the annotation of a field sits under the key ""."""
    if not isinstance(meta, dict):
        yield path, meta
        return
    for key, value in meta.items():
        if key == "":
            yield path, value
        else:
            yield from _flatten_meta(value, f"{path}.{key}" if path else str(key))


def _parse_envelope(data: bytes, name: str) -> Iterator[tuple[str, dict]]:
    nl = data.find(b"\n")
    header_line = data if nl < 0 else data[:nl]
    json.loads(header_line)  # the envelope header must be JSON
    pos = len(data) if nl < 0 else nl + 1
    index = 0
    while pos < len(data):
        nl = data.find(b"\n", pos)
        line = data[pos:] if nl < 0 else data[pos:nl]
        pos = len(data) if nl < 0 else nl + 1
        if not line.strip():
            continue  # trailing newline(s)
        item = json.loads(line)
        if "length" in item:
            length = int(item["length"])
            payload = data[pos:pos + length]
            if len(payload) != length:
                raise ValueError(f"item {index} says length {length} but only {len(payload)} bytes follow")
            pos += length
            if data[pos:pos + 1] == b"\n":
                pos += 1
        else:
            nl = data.find(b"\n", pos)
            payload = data[pos:] if nl < 0 else data[pos:nl]
            pos = len(data) if nl < 0 else nl + 1
        if item.get("type") in CHECKED_ITEM_TYPES:
            yield f"{name}[item {index}: {item['type']}]", json.loads(payload)
        index += 1


def events_from_bytes(data: bytes, name: str) -> list[tuple[str, dict]]:
    """Events in one file's bytes: [(label, event), ...]."""
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    try:
        whole = json.loads(data)
    except ValueError:
        whole = None
    if isinstance(whole, dict):
        if isinstance(whole.get("data"), dict) and "ingested_at" in whole:  # Bugsink API event
            whole = whole["data"]
        return [(name, whole)]
    return list(_parse_envelope(data, name))


def _files(paths: list[str]) -> Iterator[str]:
    for p in paths:
        if os.path.isdir(p):
            for root, dirs, files in os.walk(p):
                dirs.sort()
                for f in sorted(files):
                    yield os.path.join(root, f)
        else:
            yield p


def check_paths(paths: list[str], verbose: bool = False, out=sys.stdout) -> tuple[int, int]:
    """Answer (events checked, events with problems); prints each problem."""
    checked = bad = 0
    for path in _files(paths):
        try:
            with open(path, "rb") as f:
                events = events_from_bytes(f.read(), path)
        except (OSError, ValueError) as e:
            print(f"{path}: cannot read as event JSON or envelope: {e}", file=out)
            bad += 1
            continue
        for label, event in events:
            checked += 1
            _, problems = normalize(event)
            if problems:
                bad += 1
                print(f"{label}: {len(problems)} problem(s)", file=out)
                for p in problems:
                    print("    " + p, file=out)
            elif verbose:
                print(f"{label}: ok", file=out)
    return checked, bad


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("paths", nargs="+", help="event JSON / envelope files, or directories of them")
    ap.add_argument("--allow-empty", action="store_true", help="exit 0 when no event was found")
    ap.add_argument("-v", "--verbose", action="store_true", help="also list the clean events")
    args = ap.parse_args(argv)
    checked, bad = check_paths(args.paths, verbose=args.verbose)
    print(f"normalize_events: {checked} event(s) checked, {bad} with problems")
    if bad:
        return 1
    if checked == 0 and not args.allow_empty:
        print("normalize_events: no event found", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
