"""`make bench`: run every benchmark, keep each one's last line, write a summary and a plot.

Each benchmark prints its own figure on its last line and writes JSON under bench/results/.
Figures are ratios against a baseline measured in the same run, or counts: the machines are
shared and noisy, so absolute times mean little. ``BENCH=name make bench`` runs one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
BENCHES = [
    "cached_read",
    "upstream_efficiency",
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


def plot(results: list[dict[str, object]]) -> Path | None:
    """A PNG of the ratio figures each benchmark wrote (1.0 = the baseline or target)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    bars: list[tuple[str, float, float]] = []  # label, value, target
    for entry in results:
        data_file = RESULTS / f"{entry['name']}.json"
        if not data_file.exists():
            continue
        data = json.loads(data_file.read_text())
        for label, value, target in data.get("plot", []):
            bars.append((str(label), float(value), float(target)))
    if not bars:
        return None
    figure, axis = plt.subplots(figsize=(8, 0.5 * len(bars) + 1.5))
    labels = [b[0] for b in bars]
    axis.barh(labels, [b[1] for b in bars], color="#fc4c02")
    axis.scatter([b[2] for b in bars], labels, marker="|", s=400, color="black", label="target")
    axis.set_xlabel("ratio (see each label)")
    axis.invert_yaxis()
    axis.legend(loc="lower right")
    axis.set_title("paceline benchmarks (ratios from one run)")
    figure.tight_layout()
    path = RESULTS / "summary.png"
    figure.savefig(path, dpi=110)
    return path


def main() -> int:
    RESULTS.mkdir(parents=True, exist_ok=True)
    chosen = os.environ.get("BENCH")
    names = [chosen] if chosen else BENCHES
    results = [run(name) for name in names]
    (RESULTS / "summary.json").write_text(json.dumps(results, indent=2) + "\n")
    picture = plot(results) if not chosen else None
    print("\n== benchmark summary ==")
    for entry in results:
        print(f"{entry['name']:<22} {entry['status']:<8} {entry['figure']}")
    if picture:
        print(f"plot: {picture.relative_to(HERE.parent)}")
    return 0 if all(e["status"] in ("ok", "missing") for e in results) else 1


if __name__ == "__main__":
    sys.exit(main())
