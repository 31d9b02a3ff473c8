"""`make bench`: run every benchmark, keep each one's last line, write a summary and a plot.

Each benchmark prints its own figure on its last line and writes JSON under bench/results/.
Figures are ratios against a baseline measured in the same run, or counts: the machines are
shared and noisy, so absolute times mean little. ``BENCH=name make bench`` runs one (the
summary keeps the other benchmarks' last figures; the plot shows them all).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
BENCHES = [
    "cached_read",
    "card_read",
    "upstream_efficiency",
    "forged_events",
    "ratelimit_precision",
    "refresh_scale",
    "widget_weight",
]


def run(name: str) -> dict[str, object]:
    script = HERE / f"{name}.py"
    if not script.exists():
        return {"name": name, "status": "missing", "figure": "not written yet"}
    print(f"\n==> bench/{name}.py", flush=True)
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    lines: list[str] = []
    assert process.stdout is not None
    for line in process.stdout:
        print(line, end="", flush=True)
        if line.strip():
            lines.append(line.rstrip())
    code = process.wait()
    return {
        "name": name,
        "status": "ok" if code == 0 else f"exit {code}",
        "figure": lines[-1] if lines else "",
        "seconds": round(time.monotonic() - started, 1),
    }


# Benchmarks written before the "plot" rows existed: the rows derived from their JSON.
DERIVED_ROWS: dict[str, Callable[[dict[str, Any]], list[list[Any]]]] = {
    "refresh_scale": lambda d: [
        ["refresh pass time / ideal (1 = ideal)", d["ratio_to_ideal"], 1.0]
    ],
    "widget_weight": lambda d: [["widget.js gzipped / 6 KB limit", d["ratio_to_limit"], 1.0, "<="]],
}


def plot_rows(results: list[dict[str, object]]) -> list[tuple[str, float, float, str | None]]:
    """Each benchmark's ``"plot"`` rows: ``[label, value, target]`` and optionally the
    direction that passes (``">="`` or ``"<="``; without it the bar is drawn neutral)."""
    rows: list[tuple[str, float, float, str | None]] = []
    for entry in results:
        data_file = RESULTS / f"{entry['name']}.json"
        if not data_file.exists():
            continue
        data = json.loads(data_file.read_text())
        derive = DERIVED_ROWS.get(str(entry["name"]))
        raw = data.get("plot") or (derive(data) if derive else [])
        for label, value, target, *direction in raw:
            rows.append((str(label), float(value), float(target), (direction or [None])[0]))
    return rows


def plot(results: list[dict[str, object]]) -> Path | None:
    """A PNG of the ratio figures each benchmark wrote, each bar against its target."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    rows = plot_rows(results)
    if not rows:
        return None

    def colour(value: float, target: float, direction: str | None) -> str:
        if direction is None:
            return "#8c8c8c"
        ok = value >= target if direction == ">=" else value <= target
        return "#2e7d32" if ok else "#c62828"

    figure, axis = plt.subplots(figsize=(9, 0.55 * len(rows) + 1.6))
    labels = [row[0] for row in rows]
    values = [row[1] for row in rows]
    axis.barh(labels, values, color=[colour(*row[1:]) for row in rows])
    axis.scatter([row[2] for row in rows], labels, marker="|", s=500, color="black", zorder=3)
    for position, value in enumerate(values):
        axis.annotate(
            f"{value:.2f}",
            (value, position),
            xytext=(4, 0),
            textcoords="offset points",
            va="center",
            fontsize=8,
        )
    axis.set_xlabel("ratio (| = target; green passes, red misses, grey has no target)")
    axis.set_xlim(0, max([*values, *(row[2] for row in rows)]) * 1.15 or 1)
    axis.invert_yaxis()
    axis.set_title("paceline benchmarks: ratios and counts from one run")
    figure.tight_layout()
    path = RESULTS / "summary.png"
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def _order(name: str) -> int:
    return BENCHES.index(name) if name in BENCHES else len(BENCHES)


def main() -> int:
    RESULTS.mkdir(parents=True, exist_ok=True)
    chosen = os.environ.get("BENCH")
    names = [chosen] if chosen else BENCHES
    started = time.monotonic()
    results = [run(name) for name in names]
    summary = RESULTS / "summary.json"
    if chosen and summary.exists():  # one benchmark again: keep the others' last figures
        ran = {str(entry["name"]) for entry in results}
        kept = [e for e in json.loads(summary.read_text()) if e.get("name") not in ran]
        everything = sorted([*kept, *results], key=lambda e: _order(str(e["name"])))
    else:
        everything = results
    summary.write_text(json.dumps(everything, indent=2) + "\n")
    picture = plot(everything)
    print("\n== benchmark summary ==")
    for entry in results:
        print(f"{entry['name']:<22} {entry['status']:<8} {entry['figure']}")
    if picture:
        print(f"plot: {picture.relative_to(HERE.parent)}")
    print(f"total: {time.monotonic() - started:.0f} s")
    return 0 if all(e["status"] in ("ok", "missing") for e in results) else 1


if __name__ == "__main__":
    sys.exit(main())
