#!/usr/bin/env python3
"""Draws the server's request rate through the fleet scenario (docs/scale.md).

Usage: sim/plot.py RATES.csv OUT.png [TITLE]
RATES.csv is what `fleet-sim --csv` writes: t_s, then one column of requests
per second (averaged over 10 s) per run.
"""
import csv
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    path, out = sys.argv[1], sys.argv[2]
    title = sys.argv[3] if len(sys.argv) > 3 else "Server request rate"
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    header, data = rows[0], rows[1:]
    hours = [float(r[0]) / 3600 for r in data]
    fig, ax = plt.subplots(figsize=(10, 4.8), dpi=110)
    styles = ["-", "--", ":", "-."]
    for i, name in enumerate(header[1:]):
        ax.plot(hours, [float(r[i + 1]) for r in data], styles[i % len(styles)], linewidth=1.1, label=name)
    ax.axvspan(2, 3, color="grey", alpha=0.15, label="outage (server down)")
    ax.set_xlim(1, 6)
    ax.set_xlabel("hours from the start of the scenario")
    ax.set_ylabel("requests per second (10 s average)")
    ax.set_yscale("log")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
