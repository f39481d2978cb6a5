"""What each crate costs in a shared library: the sizes of its symbols, summed per crate.

    python3 bench/crates.py LIB.so [N]

LIB.so must keep its symbol table (scripts/dist's dist/<target>/unstripped/libstatus.so).
The equivalent of `cargo bloat --crates`, which cannot read this crate (its
`crate-type = ["cdylib", "staticlib", "rlib"]` makes it stop with "only 'bin',
'dylib' and 'cdylib' crate types are supported", cargo-bloat PR #109). Same rule
as cargo-bloat: a function belongs to the crate of its first path segment; for
`<A as B>::f`, to A's crate, or to B's when A is a std type (`<String as
serde::Serialize>` counts for serde). Generic std functions instantiated for a
crate's types (`core::ptr::drop_in_place<sentry::X>`) count for std, as in
cargo-bloat. C and assembly symbols (ring's) are named by their prefix.
Also prints the ELF sections of the file (what `strip` cannot remove).
"""

import re
import subprocess
import sys

STD = {"std", "core", "alloc", "proc_macro", "panic_unwind", "unwind", "compiler_builtins",
       "hashbrown", "std_detect", "rustc_demangle", "addr2line", "gimli", "miniz_oxide", "object",
       "memchr", "adler2"}
STD_INTERNAL = re.compile(r"^(std|core|alloc)::")


def first_segment(path):
    path = path.lstrip("&*").strip()
    if path.startswith("dyn "):
        path = path[4:]
    if path.startswith("("):
        return "core"
    if path.startswith("["):
        return "core"
    m = re.match(r"([A-Za-z_][A-Za-z0-9_]*)::", path)
    return m.group(1) if m else None


def split_qualified(name):
    """`<A as B>::rest` -> (A, B); `<A>::rest` -> (A, None); else None."""
    if not name.startswith("<"):
        return None
    depth = 0
    for i, ch in enumerate(name):
        if ch == "<":
            depth += 1
        elif ch == ">":
            depth -= 1
            if depth == 0:
                inner = name[1:i]
                break
    else:
        return None
    depth = 0
    for i in range(len(inner) - 4):
        ch = inner[i]
        if ch in "<([":
            depth += 1
        elif ch in ">)]":
            depth -= 1
        elif depth == 0 and inner.startswith(" as ", i):
            return inner[:i], inner[i + 4:]
    return inner, None


def crate_of(name):
    q = split_qualified(name)
    if q:
        a, b = q
        ca = first_segment(a)
        cb = first_segment(b) if b else None
        if ca in STD and cb and cb not in STD:
            return cb
        return ca or cb or "[unknown]"
    c = first_segment(name)
    if c:
        # std's backtrace machinery is vendored in std (std::backtrace_rs::...).
        return c
    if name.startswith("ring_core_") or name.startswith("ecp_nistz256") or name.startswith("ChaCha20") \
            or name.startswith("aes_") or name.startswith("gcm_") or name.startswith("bn_") \
            or name.startswith("x25519") or name.startswith("sha256_") or name.startswith("sha512_") \
            or name.startswith("poly1305") or name.startswith("p256_") or name.startswith("p384_") \
            or name.startswith("LIMBS_") or name.startswith("ecp_"):
        return "ring (C/asm)"
    if name in ("InitializeApplication", "ToggleCentralizedMetrics", "CentralizedMetricsInfo", "IntendedPanic",
                "IntendedBackgroundPanic", "FlushPanicReports", "PanicReports", "DeletePanicReports", "Free") \
            or name.startswith("Java_"):
        return "status"
    return "[C/unnamed]"


def group(crate):
    return "std" if crate in STD else crate


def main():
    lib = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 25
    out = subprocess.run(["nm", "-S", "--size-sort", "-C", lib], stdout=subprocess.PIPE, text=True,
                         check=True).stdout
    text, data = {}, {}
    total_text = total_data = 0
    for line in out.splitlines():
        parts = line.split(" ", 3)
        if len(parts) < 4:
            continue
        size, kind, name = int(parts[1], 16), parts[2], parts[3]
        crate = group(crate_of(name))
        if kind in "tTwW":
            text[crate] = text.get(crate, 0) + size
            total_text += size
        elif kind in "rRdD":
            data[crate] = data.get(crate, 0) + size
            total_data += size
    print(" Text%  Text size  Data size  Crate")
    for crate, size in sorted(text.items(), key=lambda kv: -kv[1])[:n]:
        print("%5.1f%% %10s %10s  %s" % (100.0 * size / total_text, "{:,}".format(size),
                                          "{:,}".format(data.get(crate, 0)), crate))
    rest = sorted(text.items(), key=lambda kv: -kv[1])[n:]
    if rest:
        print("%5.1f%% %10s %10s  (%d more crates)" % (100.0 * sum(s for _, s in rest) / total_text,
                                                      "{:,}".format(sum(s for _, s in rest)),
                                                      "{:,}".format(sum(data.get(c, 0) for c, _ in rest)), len(rest)))
    print("       %10s %10s  total of the symbols (functions; read-only and other data)"
          % ("{:,}".format(total_text), "{:,}".format(total_data)))
    sections = subprocess.run(["size", "-A", lib], stdout=subprocess.PIPE, text=True).stdout
    print("\nLargest sections of the file (`size -A`):")
    rows = []
    for line in sections.splitlines():
        p = line.split()
        if len(p) >= 3 and p[0].startswith(".") and p[1].isdigit() and p[0] not in (".comment",) \
                and not p[0].startswith(".debug") and p[0] not in (".symtab", ".strtab"):
            rows.append((int(p[1]), p[0]))
    for size, name in sorted(rows, reverse=True)[:10]:
        print("  %-20s %10s" % (name, "{:,}".format(size)))


if __name__ == "__main__":
    main()
