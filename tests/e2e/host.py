"""A C-ABI host for libstatus, run as its own process (the library's state is per process).

    python host.py SO_PATH STEPS_JSON

STEPS_JSON is a list of [export_name, argument]: a dict argument is sent as its JSON text, a str
as is, an int as a C int, and no argument for CentralizedMetricsInfo. For each call one line of
JSON is printed (and flushed, so a crash still shows how far it got):
    {"call": name, "raw": answer text, "answer": parsed answer or null, "ms": duration}
Every answer is read with ctypes.string_at and then released with the library's Free.
"""

import ctypes
import json
import sys
import time

SIGNATURES = {
    "InitializeApplication": [ctypes.c_char_p],
    "ToggleCentralizedMetrics": [ctypes.c_char_p],
    "CentralizedMetricsInfo": [],
    "IntendedPanic": [ctypes.c_char_p],
    "IntendedBackgroundPanic": [ctypes.c_char_p],
    "FlushPanicReports": [ctypes.c_int],
}


def main():
    so_path, steps = sys.argv[1], json.loads(sys.argv[2])
    lib = ctypes.CDLL(so_path)
    lib.Free.argtypes = [ctypes.c_void_p]
    lib.Free.restype = None
    for name, argtypes in SIGNATURES.items():
        fn = getattr(lib, name)
        fn.argtypes = argtypes
        fn.restype = ctypes.c_void_p

    for step in steps:
        name, args = step[0], step[1:]
        cargs = []
        for a in args:
            if isinstance(a, dict):
                cargs.append(json.dumps(a).encode())
            elif isinstance(a, str):
                cargs.append(a.encode())
            else:
                cargs.append(int(a))
        t0 = time.monotonic()
        ptr = getattr(lib, name)(*cargs)
        ms = round((time.monotonic() - t0) * 1000, 1)
        if not ptr:
            raw = None
        else:
            raw = ctypes.string_at(ptr).decode("utf-8", "replace")
            lib.Free(ptr)
        try:
            answer = json.loads(raw) if raw is not None else None
        except ValueError:
            answer = None
        print(json.dumps({"call": name, "raw": raw, "answer": answer, "ms": ms}), flush=True)


if __name__ == "__main__":
    main()
