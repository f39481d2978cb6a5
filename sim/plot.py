#!/usr/bin/env python3
"""Draws the server's request rate through the fleet scenario (docs/scale.md).

Usage: sim/plot.py OUT.png DEVICES LABEL=RATES.csv [LABEL=RATES.csv ...]

Each RATES.csv is what `fleet-sim --csv` writes: t_s, then one column per run
("<devices> jitter", "<devices> no jitter") of requests per second averaged
over 10 s. The runs of DEVICES devices are drawn, one line per file and run.
"""
import csv
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def read(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    out, devices, sources = sys.argv[1], sys.argv[2], sys.argv[3:]
    fig, ax = plt.subplots(figsize=(11, 5.2), dpi=110)
    styles = {"jitter": "-", "no jitter": "--"}
    for source in sources:
        label, path = source.split("=", 1)
        header, data = read(path)
        hours = [float(r[0]) / 3600 for r in data]
        for i, name in enumerate(header[1:]):
            run_devices, _, kind = name.partition(" ")
            if run_devices != devices:
                continue
            values = [max(float(r[i + 1]), 0.05) for r in data]
            ax.plot(hours, values, styles.get(kind, ":"), linewidth=1.0, label=f"{label}, {kind}")
    expected = int(devices) / 86400  # one panic per device per day, as fleet-sim
    capacity = max(3 * expected, 5)
    ax.axhline(capacity, color="black", linewidth=0.8, linestyle="-.", label=f"capacity ({capacity:.1f}/s)")
    ax.axhline(2 * expected, color="grey", linewidth=0.8, linestyle=":", label="2 x the steady rate")
    ax.axvspan(2, 3, color="grey", alpha=0.15, label="server down")
    ax.set_ylim(bottom=max(expected / 4, 0.01))
    ax.set_xlim(1, 7)
    ax.set_xlabel("hours from the start of the scenario")
    ax.set_ylabel("requests per second at the server (10 s average, log scale)")
    ax.set_yscale("log")
    ax.set_title(f"{int(devices):,} devices: requests reaching the server through a 1-hour outage")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
