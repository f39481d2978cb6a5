"""Fixtures for the end-to-end tests of libstatus against a real Bugsink server.

The server comes from the environment that `scripts/bugsink.sh start ENVFILE; . ENVFILE` set up
(BUGSINK_URL, BUGSINK_TOKEN, BUGSINK_DSN, BUGSINK_PROJECT, BUGSINK_LOG); without BUGSINK_URL
the session starts one itself with that script and stops it at the end.
"""

import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
import tomllib
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HOST = Path(__file__).resolve().parent / "host.py"
sys.path.insert(0, str(ROOT / "scripts"))


class Bugsink:
    def __init__(self, url, token, dsn, project, log):
        self.url, self.token, self.dsn, self.project, self.log = url, token, dsn, str(project), log
        self._details = {}  # event uuid -> full API answer (events never change once digested)

    def get(self, path_or_url, **params):
        url = path_or_url if path_or_url.startswith("http") else f"{self.url}/api/canonical/0/{path_or_url}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        req = urllib.request.Request(url, headers={"Authorization": f"Bearer {self.token}"})
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.load(r)

    def _paged(self, path, **params):
        page = self.get(path, **params)
        while True:
            yield from page["results"]
            if not page.get("next"):
                return
            page = self.get(page["next"])

    def events(self):
        """Every stored event of the project, as the API's event detail (the event is in `data`)."""
        out = []
        for issue in self._paged("issues/", project=self.project):
            for ev in self._paged("events/", issue=issue["id"]):
                if ev["id"] not in self._details:
                    self._details[ev["id"]] = self.get(f"events/{ev['id']}/")
                out.append(self._details[ev["id"]])
        return out

    def events_with(self, markers, timeout=20.0):
        """Wait until, for each marker, an event whose exception value holds it is stored.

        Bugsink's local template digests during the POST itself, but poll anyway."""
        deadline = time.monotonic() + timeout
        while True:
            found = {}
            for ev in self.events():
                text = exception_value(ev["data"]) or ""
                for m in markers:
                    if m in text:
                        found.setdefault(m, []).append(ev)
            if len(found) == len(markers) or time.monotonic() > deadline:
                return found
            time.sleep(0.2)

    def log_size(self):
        return os.path.getsize(self.log) if self.log and os.path.exists(self.log) else 0

    def log_since(self, offset):
        if not self.log or not os.path.exists(self.log):
            return ""
        with open(self.log, "rb") as f:
            f.seek(offset)
            return f.read().decode("utf-8", "replace")


def exception_value(event):
    try:
        return event["exception"]["values"][0]["value"]
    except (KeyError, IndexError, TypeError):
        return None


@pytest.fixture(scope="session")
def bugsink():
    if os.environ.get("BUGSINK_URL"):
        e = os.environ
        yield Bugsink(e["BUGSINK_URL"], e["BUGSINK_TOKEN"], e["BUGSINK_DSN"], e["BUGSINK_PROJECT"],
                      e.get("BUGSINK_LOG"))
        return
    envfile = Path(tempfile.mkdtemp(prefix="libstatus-e2e-")) / "bugsink.env"
    script = ROOT / "scripts" / "bugsink.sh"
    subprocess.run(["bash", str(script), "start", str(envfile)], check=True)
    try:
        values = {}
        for line in envfile.read_text().splitlines():
            key, _, value = line.removeprefix("export ").partition("=")
            values[key] = shlex.split(value)[0] if value else ""
        yield Bugsink(values["BUGSINK_URL"], values["BUGSINK_TOKEN"], values["BUGSINK_DSN"],
                      values["BUGSINK_PROJECT"], values.get("BUGSINK_LOG"))
    finally:
        subprocess.run(["bash", str(script), "stop", str(envfile)], check=False)
        envfile.parent.rmdir()


@pytest.fixture(scope="session")
def libstatus_so():
    so = Path(os.environ.get("LIBSTATUS_SO", ROOT / "target" / "debug" / "libstatus.so"))
    if not so.is_absolute():
        so = ROOT / so
    if not so.exists():
        pytest.fail(f"{so} does not exist: run `cargo build` first (or set LIBSTATUS_SO)")
    return so


@pytest.fixture(scope="session")
def crate_version():
    with open(ROOT / "Cargo.toml", "rb") as f:
        return tomllib.load(f)["package"]["version"]


@pytest.fixture(scope="session")
def run_host(libstatus_so):
    """Run a list of ABI calls in a fresh process; answer {"calls": [...], "env": {...}}."""

    def run(steps, sentry_environment="ci-main", timeout=60):
        env = {k: v for k, v in os.environ.items() if not k.startswith("SENTRY_")}
        if sentry_environment is not None:
            env["SENTRY_ENVIRONMENT"] = sentry_environment
        proc = subprocess.run([sys.executable, str(HOST), str(libstatus_so), json.dumps(steps)],
                              env=env, capture_output=True, text=True, timeout=timeout)
        calls = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
        assert proc.returncode == 0 and len(calls) == len(steps), (
            f"host process ended with {proc.returncode} after {len(calls)} of {len(steps)} calls\n"
            f"calls: {json.dumps(calls, indent=1)}\nstderr:\n{proc.stderr[-4000:]}")
        for c in calls:
            assert c["answer"] is not None, f"{c['call']} answered no JSON: {c['raw']!r}"
        return {"calls": calls, "env": env, "stderr": proc.stderr}

    return run
