"""Runs every benchmark figure in one run and prints markdown tables (stdlib only).

Called by bench/run, which builds what it measures and passes the paths:
    LIBSTATUS   target/release/libstatus.so (the per-call, panic, rss, cold-init and storm figures)
    STOCK       bench/stock-sentry/target/release/libstocksentry.so (the stock sentry crate)
    PEERS       the folder ../shared/peers/go-cshared/build.sh built (driver, libstatusgo-shape.so, libbare.so)
    HOST        bench/host.c, built
    DIST        the folder scripts/dist wrote (libstatus.so, stripped), or empty to skip it
    BLOAT_OUT   a file with the per-crate table (bench/crates.py) to print in the size section

Knobs (environment): QUICK=1 (small counts, one round), ROUNDS, CALLS, SECTIONS
(comma list of percall,panic,rss,coldinit,storm,size; default all), COLD_RUNS,
STORM_TOTAL, KEEP_WORK=1 (keep the scratch folder).

Contestants alternate round by round (the order rotates each round), and each
figure is the median over rounds (pooled samples for percentiles).
"""

import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import receiver  # noqa: E402

QUICK = os.environ.get("QUICK") == "1"
ROUNDS = int(os.environ.get("ROUNDS", "1" if QUICK else "3"))
CALLS = int(os.environ.get("CALLS", "100000" if QUICK else "1000000"))
COLD_RUNS = int(os.environ.get("COLD_RUNS", "5" if QUICK else "30"))
STORM_TOTAL = int(os.environ.get("STORM_TOTAL", "2000" if QUICK else "10000"))
PANIC_WINDOWS = int(os.environ.get("PANIC_WINDOWS", "5" if QUICK else "20"))
SECTIONS = os.environ.get("SECTIONS", "percall,panic,rss,coldinit,storm,size").split(",")

LIBSTATUS = os.environ["LIBSTATUS"]
STOCK = os.environ.get("STOCK", "")
PEERS = os.environ.get("PEERS", "")
HOST = os.environ["HOST"]
DIST = os.environ.get("DIST", "")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

WORK = tempfile.mkdtemp(prefix="libstatus-bench-")
# libstatus reports only from reported environments; the stock crate ignores it.
BASE_ENV = dict(os.environ, SENTRY_ENVIRONMENT="ci-main")
BASE_ENV.pop("RUST_BACKTRACE", None)
_serial = [0]


def fresh_dir(tag):
    _serial[0] += 1
    path = os.path.join(WORK, "%s-%d" % (tag, _serial[0]))
    os.makedirs(path)
    return path


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def pct(xs, p):
    if not xs:
        return float("nan")
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, math.ceil(p * len(s)) - 1))]


def fmt(x, digits=1):
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    if abs(x) >= 100:
        return "{:,.0f}".format(x)
    return "{:.{}f}".format(x, digits)


def ratio(a, b):
    if not a or not b or math.isnan(a) or math.isnan(b):
        return "-"
    r = a / b
    if r < 0.1:
        return "%.2gx" % r
    return "%.1fx" % r if r < 100 else "{:,.0f}x".format(r)


def table(header, rows):
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for r in rows:
        print("| " + " | ".join(str(c) for c in r) + " |")
    print(flush=True)


def parse_kv(text):
    out = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            out[key.strip()] = value.strip()
    return out


def floats(value):
    return [float(x) for x in value.split(",") if x] if value else []


def rotate(items, r):
    r %= len(items)
    return items[r:] + items[:r]


def run(cmd, env=None, timeout=600):
    proc = subprocess.run(cmd, env=env or BASE_ENV, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=timeout, text=True)
    if proc.returncode != 0:
        sys.stderr.write("bench: %s failed (%d): %s\n" % (" ".join(cmd[:3]), proc.returncode,
                                                          proc.stderr[-2000:]))
    return proc


def host(mode, lib, backtrace=False, **keys):
    env = dict(BASE_ENV)
    if backtrace:
        env["RUST_BACKTRACE"] = "1"
    cmd = [HOST, mode, lib] + ["%s=%s" % kv for kv in keys.items()]
    return parse_kv(run(cmd, env).stdout)


def contestants(with_peers=False):
    c = [("libstatus", LIBSTATUS)]
    if STOCK:
        c.append(("stock sentry", STOCK))
    if with_peers and PEERS:
        c.append(("Go shape", os.path.join(PEERS, "libstatusgo-shape.so")))
        c.append(("bare floor", os.path.join(PEERS, "libbare.so")))
    return c


# ---------------------------------------------------------------- machine

def machine():
    model = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()
    rustc = subprocess.run(["rustc", "--version"], stdout=subprocess.PIPE, text=True).stdout.strip()
    go = subprocess.run(["go", "version"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                        text=True).stdout.strip() if shutil.which("go") else "-"
    print("## Machine\n")
    print("- CPU: %s, %d cores (nproc); kernel %s" % (model, os.cpu_count(), platform.release()))
    print("- load average at start: %.2f %.2f %.2f" % load)
    gcc = subprocess.run(["gcc", "-dumpfullversion"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         text=True).stdout.strip() if shutil.which("gcc") else "-"
    print("- %s; %s; gcc %s" % (rustc, go, gcc))
    print("- settings: QUICK=%s ROUNDS=%d CALLS=%d COLD_RUNS=%d STORM_TOTAL=%d PANIC_WINDOWS=%d\n"
          % (int(QUICK), ROUNDS, CALLS, COLD_RUNS, STORM_TOTAL, PANIC_WINDOWS), flush=True)


# ---------------------------------------------------------------- per call

def driver(lib, name, calls, arg=None, init=None):
    env = dict(BASE_ENV)
    if init:
        env["DRIVER_INIT"] = init
    cmd = [os.path.join(PEERS, "driver"), lib, name, str(max(1, int(calls)))]
    if arg is not None:
        cmd.append(arg)
    out = parse_kv(run(cmd, env).stdout)
    return float(out["ns_per_call"]) if "ns_per_call" in out else float("nan")


def callgrind_instructions(lib, name, calls, arg=None, init=None):
    """User-space instructions per call, counted by callgrind inside the export and `Free` only
    (`--toggle-collect`: not the driver's loop, not init, not the library's other threads), over
    every call the driver makes (`calls` + its warm-up of calls/10 + 1). Load does not change it."""
    env = dict(BASE_ENV)
    if init:
        env["DRIVER_INIT"] = init
    cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", "--toggle-collect=" + name,
           "--toggle-collect=Free", os.path.join(PEERS, "driver"), lib, name, str(calls)]
    cmd += [arg] if arg is not None else []
    try:
        proc = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=300)
    except subprocess.TimeoutExpired:
        return float("nan")
    found = [line.split(":", 1)[1] for line in proc.stderr.splitlines() if "Collected :" in line]
    if proc.returncode != 0 or not found:
        return float("nan")  # the Go runtime does not run under valgrind
    return int(found[-1].strip()) / (calls + calls // 10 + 1)


def percall():
    if not PEERS:
        print("(per call: skipped, no peers)\n")
        return
    go = os.path.join(PEERS, "libstatusgo-shape.so")
    bare = os.path.join(PEERS, "libbare.so")
    init = json.dumps({"dataDir": fresh_dir("percall")})
    toggle_calls = int(os.environ.get("TOGGLE_CALLS", "100" if QUICK else "300"))
    # (figure, [(contestant, lib, name, calls, arg)])
    figures = [
        ("CentralizedMetricsInfo()", [
            ("libstatus", LIBSTATUS, "CentralizedMetricsInfo", CALLS, None),
            ("Go shape", go, "CentralizedMetricsInfo", CALLS / 20, None),
            ("bare floor", bare, "CentralizedMetricsInfo", CALLS, None),
        ] + ([("stock sentry", STOCK, "CentralizedMetricsInfo", CALLS, None)] if STOCK else [])),
        ('ToggleCentralizedMetrics({"enabled":true}) (libstatus writes the opt-in file; '
         "Go: ToggleCentralizedMetricsInMemory)", [
            ("libstatus", LIBSTATUS, "ToggleCentralizedMetrics", toggle_calls, '{"enabled":true}'),
            ("Go shape", go, "ToggleCentralizedMetricsInMemory", CALLS / 20, '{"enabled":true}'),
        ]),
        ('a failing call: {"enabled":"x"} (invalid-request; Go: ToggleCentralizedMetricsInMemory)', [
            ("libstatus", LIBSTATUS, "ToggleCentralizedMetrics", CALLS / 4, '{"enabled":"x"}'),
            ("Go shape", go, "ToggleCentralizedMetricsInMemory", CALLS / 20, '{"enabled":"x"}'),
        ]),
    ]
    results = {}
    for r in range(ROUNDS):
        for fig, entries in figures:
            for who, lib, name, calls, arg in rotate(entries, r):
                results.setdefault((fig, who), []).append(driver(lib, name, calls, arg, init))
    print("## 1. One call through dlopen (ns per call; median of %d rounds, min-max)\n" % ROUNDS)
    print("Timed by the peers' driver (`../shared/peers/go-cshared/driver`): warm-up, then N calls, "
          "each answer freed with the library's `Free`.\n")
    for fig, entries in figures:
        print("**%s**\n" % fig)
        ours = median(results[(fig, "libstatus")])
        floor = median(results.get((fig, "bare floor"), []))
        rows = []
        for who, lib, name, calls, arg in entries:
            xs = results[(fig, who)]
            m = median(xs)
            rows.append([who, "`%s`" % name, "{:,}".format(int(calls)), fmt(m), "%s-%s" % (fmt(min(xs)), fmt(max(xs))),
                         ratio(m, ours) if who != "libstatus" else "1.0x",
                         ratio(m, floor) if not math.isnan(floor) else "-"])
        table(["contestant", "export", "calls", "ns/call", "min-max", "x libstatus", "x bare floor"], rows)
    if os.environ.get("INSTR", "1") != "1" or not shutil.which("valgrind"):
        return
    n = 2000 if QUICK else 5000
    entries = [("libstatus", LIBSTATUS), ("bare floor", bare)] + ([("stock sentry", STOCK)] if STOCK else [])
    counts = {}
    for who, lib in entries:
        counts[(who, "info")] = callgrind_instructions(lib, "CentralizedMetricsInfo", n, None, init)
    counts[("libstatus", "fail")] = callgrind_instructions(LIBSTATUS, "ToggleCentralizedMetrics", n,
                                                           '{"enabled":"x"}', init)
    print("**User-space instructions per call** (callgrind, inside the export and `Free`, %d calls; unlike "
          "the times above, load does not change it; the Go runtime does not run under valgrind):\n" % n)
    rows = [[who, fmt(counts[(who, "info")], 0), ratio(counts[(who, "info")], counts[("bare floor", "info")])]
            for who, _ in entries]
    rows.append(["libstatus, failing call `{\"enabled\":\"x\"}`", fmt(counts[("libstatus", "fail")], 0),
                 ratio(counts[("libstatus", "fail")], counts[("bare floor", "info")])])
    table(["CentralizedMetricsInfo()", "instructions/call", "x bare floor"], rows)


# ---------------------------------------------------------------- panics

SERVERS = ["live", "closed", "blackhole"]


def panic_run(who, lib, server_kind, backtrace):
    server = receiver.SERVERS[server_kind]()
    dsn = "http://benchkey0000000000000000000000@127.0.0.1:%d/1" % server.port
    if who == "libstatus":
        keys = dict(windows=PANIC_WINDOWS, per=50, admit=5, window_ms=100, settle_ms=500,
                    flush_ms=2000 if server_kind == "live" else 300, budget_ms=60000)
    else:
        # The stock panic hook flushes for up to 2 s (shutdown_timeout) per panic.
        keys = dict(windows=1, per=20 if QUICK else 100, admit=0, settle_ms=500,
                    flush_ms=2000 if server_kind == "live" else 300,
                    budget_ms=(3000 if QUICK else 6000) if server_kind == "blackhole" else 5000)
    out = host("panic", lib, backtrace, datadir=fresh_dir("panic"), dsn=dsn, **keys)
    out["server"] = server.stats()
    server.close()
    return out


def panics():
    pooled = {}
    for r in range(ROUNDS):
        for kind in SERVERS:
            for bt in (False, True):
                for who, lib in rotate(contestants(), r):
                    out = panic_run(who, lib, kind, bt)
                    p = pooled.setdefault((kind, bt, who), {"rep": [], "sup": [], "first": [], "flush": [],
                                                           "events": 0, "reported": 0, "overlong": 0,
                                                           "hung": 0})
                    p.setdefault("rep_cpu", []).extend(floats(out.get("reported_cpu_us")))
                    p.setdefault("sup_cpu", []).extend(floats(out.get("suppressed_cpu_us")))
                    p["rep"] += floats(out.get("reported_us"))
                    p["sup"] += floats(out.get("suppressed_us"))
                    if "first_us" in out:
                        p["first"].append(float(out["first_us"]))
                    if "flush_ms" in out:
                        p["flush"].append(float(out["flush_ms"]))
                    p["events"] += out["server"].get("events", 0)
                    p["reported"] += len(floats(out.get("reported_us")))
                    p["overlong"] += int(out.get("overlong_bursts", 0))
                    p["hung"] += int(out.get("hung", 0))
                    try:
                        p["pending"] = p.get("pending", 0) + int(json.loads(out.get("flush_answer", "{}")).get("pending", 0))
                    except ValueError:
                        pass
    print("## 2. A panicking call (IntendedPanic), opted in (us; pooled over %d rounds)\n" % ROUNDS)
    print("libstatus: %d bursts of 50 panics from one site per round, storm window 100 ms "
          "(`panicStormWindowMs`): the first 5 of each burst are reported (event written to the outbox), "
          "the other 45 suppressed (counted). Stock sentry crate: no storm control, every panic is captured "
          "and its panic hook flushes (up to 2 s); it stops after its time budget. "
          "\"events\" = events the live receiver got after the final flush / panics reported (libstatus: "
          "reports left in the outbox after the flush; its first send waits a random delay of up to 5 s and its "
          "budget is a burst of 30 then 10 a minute, so a run's 100 reports overflow the outbox's bound of 30: "
          "the oldest are evicted and counted on the next event).\n" % PANIC_WINDOWS)
    rows = []
    for kind in SERVERS:
        for bt in (False, True):
            ours = pooled.get((kind, bt, "libstatus"))
            stock = pooled.get((kind, bt, "stock sentry"))
            row = [kind, "1" if bt else "unset"]
            if ours:
                row += ["%s / %s / %s (n=%d%s)" % (fmt(median(ours["rep"])), fmt(pct(ours["rep"], .99)),
                                                  fmt(max(ours["rep"]) if ours["rep"] else None), len(ours["rep"]),
                                                  ", then a call never returned" if ours["hung"] else ""),
                        "%s / %s / %s (n=%d)" % (fmt(median(ours["sup"])), fmt(pct(ours["sup"], .99)),
                                                fmt(max(ours["sup"]) if ours["sup"] else None), len(ours["sup"])),
                        fmt(median(ours["first"])),
                        ("%d/%d (%d pending)" % (ours["events"], ours["reported"], ours.get("pending", 0)))
                        if kind == "live" else "-"]
            else:
                row += ["-"] * 4
            if stock:
                row += ["%s / %s / %s (n=%d%s)" % (fmt(median(stock["rep"])), fmt(pct(stock["rep"], .99)),
                                                  fmt(max(stock["rep"]) if stock["rep"] else None), len(stock["rep"]),
                                                  ", then a call never returned" if stock["hung"] else ""),
                        ("%d/%d" % (stock["events"], stock["reported"])) if kind == "live" else "-",
                        ratio(median(stock["rep"]), median(ours["rep"])) if ours else "-",
                        ratio(pct(stock["rep"], .99), pct(ours["rep"], .99)) if ours else "-"]
            else:
                row += ["-"] * 4
            rows.append(row)
    table(["server", "RUST_BACKTRACE", "libstatus reported p50 / p99 / max", "libstatus suppressed p50 / p99 / max",
           "libstatus first panic", "libstatus events", "stock sentry p50 / p99 / max", "stock events",
           "p50 stock/libstatus", "p99 stock/libstatus"], rows)
    print("CPU time of the calling thread per call (us, p50 / p99; `CLOCK_THREAD_CPUTIME_ID`): the work of "
          "a call without the time it waited for a core or for I/O:\n")
    rows = []
    for kind in SERVERS:
        for bt in (False, True):
            row = [kind, "1" if bt else "unset"]
            for who, key in (("libstatus", "rep_cpu"), ("libstatus", "sup_cpu"), ("stock sentry", "rep_cpu")):
                p = pooled.get((kind, bt, who))
                xs = p.get(key, []) if p else []
                row.append("%s / %s" % (fmt(median(xs)), fmt(pct(xs, .99))) if xs else "-")
            rows.append(row)
    table(["server", "RUST_BACKTRACE", "libstatus reported", "libstatus suppressed", "stock sentry"], rows)
    for kind in SERVERS:
        ours = pooled.get((kind, False, "libstatus"))
        if ours and ours["overlong"]:
            print("warning: %d libstatus bursts (%s) outlasted the storm window: some 'suppressed' "
                  "panics may have been reported\n" % (ours["overlong"], kind))
    rows = []
    for kind in SERVERS:
        rows.append([kind] + [fmt(median(pooled[(kind, False, who)]["flush"])) if (kind, False, who) in pooled
                              else "-" for who, _ in contestants()])
    print("Final FlushPanicReports(timeout) after the panics, ms (timeout 2000 live, 300 otherwise):\n")
    table(["server"] + [who for who, _ in contestants()], rows)


# ---------------------------------------------------------------- rss

RSS_STAGES = [("before_dlopen_kb", "before dlopen"), ("after_dlopen_kb", "after dlopen"),
              ("after_init_kb", "after init + opt-in"), ("after_init_settled_kb", "init + 0.5 s"),
              ("after_first_call_kb", "after one call"),
              ("after_first_panic_kb", "after the first panic"),
              ("after_first_panic_settled_kb", "first panic + 0.5 s"),
              ("after_flush_kb", "after the flush"), ("hwm_kb", "peak (VmHWM)")]


def rss():
    live = receiver.Live()
    dsn = "http://benchkey0000000000000000000000@127.0.0.1:%d/1" % live.port
    results = {}
    for r in range(ROUNDS):
        for who, lib in rotate(contestants(with_peers=True), r):
            out = host("rss", lib, datadir=fresh_dir("rss"), dsn=dsn, settle_ms=500, flush_ms=2000)
            for key, _ in RSS_STAGES:
                if key in out:
                    results.setdefault((who, key), []).append(int(out[key]))
    live.close()
    whos = [w for w, _ in contestants(with_peers=True)]
    print("## 3. Resident memory of the host process (VmRSS, MB; median of %d rounds)\n" % ROUNDS)
    print("libstatus and the stock crate: init (live receiver) and opt in, one panic, flush. "
          "The Go shape and the bare floor have no init: dlopen (the Go runtime starts) and one "
          "`CentralizedMetricsInfo` call.\n")
    rows = []
    for key, label in RSS_STAGES:
        if not any((w, key) in results for w in whos):
            continue
        rows.append([label] + [fmt(median(results[(w, key)]) / 1024, 2) if (w, key) in results else "-"
                               for w in whos])
    delta = ["**growth over before-dlopen**"]
    for w in whos:
        last = "after_flush_kb" if (w, "after_flush_kb") in results else "after_first_call_settled_kb"
        if (w, last) in results and (w, "before_dlopen_kb") in results:
            delta.append("+" + fmt((median(results[(w, last)]) - median(results[(w, "before_dlopen_kb")])) / 1024, 2))
        else:
            delta.append("-")
    rows.append(delta)
    table(["stage"] + whos, rows)
    if ("libstatus", "after_first_panic_settled_kb") in results:
        d = (median(results[("libstatus", "after_first_panic_settled_kb")])
             - median(results[("libstatus", "after_init_settled_kb")])) / 1024
        print("libstatus growth from init to the first panic (settled): +%s MB (target: at most +5 MB)\n" % fmt(d, 2))


# ---------------------------------------------------------------- cold init

def coldinit():
    live = receiver.Live()
    dsn = "http://benchkey0000000000000000000000@127.0.0.1:%d/1" % live.port
    restart_dirs = {who: fresh_dir("restart") for who, _ in contestants()}
    for who, lib in contestants():  # the user opted in on an earlier start
        host("coldinit", lib, datadir=restart_dirs[who], dsn=dsn, optin=1)
    results = {}
    for i in range(COLD_RUNS):
        for who, lib in rotate(contestants(), i):
            first = host("coldinit", lib, datadir=os.path.join(fresh_dir("cold"), "data"), dsn=dsn)
            again = host("coldinit", lib, datadir=restart_dirs[who], dsn=dsn)
            for tag, out in (("first", first), ("restart", again)):
                for key in ("dlopen_us", "init_us"):
                    if key in out:
                        results.setdefault((who, tag, key), []).append(float(out[key]))
    live.close()
    print("## 4. Cold start: a fresh process's dlopen and first InitializeApplication (us; %d processes each)\n"
          % COLD_RUNS)
    print("\"first start\": a dataDir that does not exist yet; \"restart\": the dataDir of an earlier start, "
          "user opted in (reporting starts). DSN: a live loopback receiver.\n")
    rows = []
    ours = {}
    for who, _ in contestants():
        for tag in ("first", "restart"):
            d = results.get((who, tag, "dlopen_us"), [])
            x = results.get((who, tag, "init_us"), [])
            if who == "libstatus":
                ours[tag] = median(x)
            rows.append([who, tag, fmt(median(d)), fmt(median(x)), fmt(pct(x, .99)), fmt(max(x) if x else None),
                         ratio(median(x), ours.get(tag)) if who != "libstatus" else "1.0x"])
    table(["contestant", "start", "dlopen p50", "init p50", "init p99", "init max", "init x libstatus"], rows)
    print("Target: libstatus init at most 2 ms (2,000 us).\n")


# ---------------------------------------------------------------- storm

def storm():
    budget = int(os.environ.get("STORM_BUDGET_MS", "4000" if QUICK else "10000"))
    rows = []
    for kind in SERVERS:
        for bt in (False, True):
            for who, lib in contestants():
                server = receiver.SERVERS[kind]()
                dsn = "http://benchkey0000000000000000000000@127.0.0.1:%d/1" % server.port
                out = host("storm", lib, bt, datadir=fresh_dir("storm"), dsn=dsn, total=STORM_TOTAL, threads=4,
                           settle_ms=500, budget_ms=budget, flush_ms=2000 if kind == "live" else 300)
                time.sleep(0.2)
                events = server.stats().get("events")
                server.close()
                rows.append([kind, "1" if bt else "unset", who, out.get("panics", "-"), fmt(float(out.get("wall_ms", "nan"))),
                             "{:,}".format(int(float(out["panics_per_s"]))) if "panics_per_s" in out else "-",
                             "%s / %s / %s" % (fmt(float(out.get("p50_us", "nan"))), fmt(float(out.get("p99_us", "nan"))),
                                               fmt(float(out.get("max_us", "nan")))),
                             fmt(int(out.get("hwm_kb", "0")) / 1024, 1), fmt(float(out.get("flush_ms", "nan"))),
                             events if events is not None else "-",
                             ("**%s of 4 threads never returned**" % out["hung_threads"]) if "hung_threads" in out
                             else ""])
    print("## 5. Storm: %d panics from 4 threads at once, one panic site\n" % STORM_TOTAL)
    print("Default storm window (libstatus: 5 events per site per 60 s). A contestant stops at a %d ms budget "
          "(\"panics\" says how many it did); a thread whose panicking call has not returned 10 s after the budget is "
          "counted as hung (then no flush). \"events\" = events the live receiver got after a 2 s flush.\n" % budget)
    table(["server", "RUST_BACKTRACE", "contestant", "panics", "wall ms", "panics/s", "per panic p50 / p99 / max us",
           "peak RSS MB", "flush ms", "events", "hung"], rows)


# ---------------------------------------------------------------- size

def stripped_size(path):
    out = os.path.join(WORK, "stripped-" + os.path.basename(path))
    subprocess.run(["strip", "--strip-all", "-o", out, path], check=True)
    return os.path.getsize(out), out


def needed(path):
    proc = subprocess.run(["readelf", "-d", path], stdout=subprocess.PIPE, text=True)
    return [line.split("[", 1)[1].rstrip("]") for line in proc.stdout.splitlines() if "(NEEDED)" in line]


def size():
    print("## 6. Size of the shipped library (x86_64, stripped)\n")
    rows = []
    shipped = os.path.join(DIST, "libstatus.so") if DIST else ""
    ours = None
    if shipped and os.path.exists(shipped):
        ours = os.path.getsize(shipped)
        rows.append(["libstatus, shipped (`scripts/dist`, stripped)", ours, needed(shipped)])
    n, _ = stripped_size(LIBSTATUS)
    rows.append(["libstatus, release profile, stripped (not shipped)", n, needed(LIBSTATUS)])
    if PEERS:
        n, _ = stripped_size(os.path.join(PEERS, "libstatusgo-shape.so"))
        rows.append(["Go shape (one endpoint), stripped", n, needed(os.path.join(PEERS, "libstatusgo-shape.so"))])
        n, _ = stripped_size(os.path.join(PEERS, "libbare.so"))
        rows.append(["bare floor, stripped", n, needed(os.path.join(PEERS, "libbare.so"))])
    if STOCK:
        n, _ = stripped_size(STOCK)
        rows.append(["stock sentry crate (default features), release, stripped", n, needed(STOCK)])
    table(["library", "bytes", "MB", "x shipped libstatus", "DT_NEEDED"],
          [[name, "{:,}".format(n), fmt(n / 1e6, 2), ratio(n, ours) if ours else "-", ", ".join(dep)]
           for name, n, dep in rows])
    print("Target: the shipped libstatus.so at most 2.5 MB (2,500,000 bytes), no OpenSSL.\n")
    if shipped and os.path.exists(shipped):
        ldd = subprocess.run(["ldd", shipped], stdout=subprocess.PIPE, text=True).stdout
        ssl = [line.strip() for line in ldd.splitlines() if "ssl" in line or "crypto" in line]
        print("`ldd %s`:\n\n```\n%s```\n" % (os.path.relpath(shipped, ROOT), ldd))
        print("OpenSSL linked: %s\n" % ("YES: " + "; ".join(ssl) if ssl else "no"))
    elif not DIST:
        print("(the shipped build was skipped: NO_DIST=1)\n")
    bloat = os.environ.get("BLOAT_OUT", "")
    if bloat and os.path.exists(bloat):
        print("Per crate (`bench/crates.py`, the equivalent of `cargo bloat --crates -n 25`, over the unstripped "
              "dist build: function bytes per crate, and the read-only data its symbols hold):\n")
        print("```\n" + open(bloat).read().rstrip() + "\n```\n")


def main():
    started = time.time()
    machine()
    sections = {"percall": percall, "panic": panics, "rss": rss, "coldinit": coldinit, "storm": storm,
                "size": size}
    for name in SECTIONS:
        t = time.time()
        sections[name.strip()]()
        sys.stderr.write("bench: %s took %.0f s\n" % (name, time.time() - t))
    print("_Measured in %.0f s (not counting the builds)._" % (time.time() - started))
    if os.environ.get("KEEP_WORK") == "1":
        sys.stderr.write("bench: scratch kept in %s\n" % WORK)
    else:
        shutil.rmtree(WORK, ignore_errors=True)


if __name__ == "__main__":
    main()
