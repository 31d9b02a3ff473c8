#!/usr/bin/env python3
"""Write the values table of charts/paceline/README.md from values.yaml's comments.

Each documented key of values.yaml (a `# --` comment above it) becomes a row:
key, default, description. A documented mapping whose children carry no comment
of their own (resources, probes, security contexts...) is one row.

    tools/chart_values_table.py          # rewrite the table in the README
    tools/chart_values_table.py --check  # exit 1 when the README is out of date
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import yaml

CHART = Path(__file__).resolve().parents[1] / "charts" / "paceline"
START, END = "<!-- values-table:start -->", "<!-- values-table:end -->"
KEY = re.compile(r"([A-Za-z0-9_./-]+):(\s|$)")


def documented_keys(lines: list[str]) -> list[tuple[str, str, bool]]:
    """(dotted key, description, has children) for every key with a comment above it."""
    found: list[tuple[str, str, bool]] = []
    stack: list[tuple[int, str]] = []
    comment: list[str] = []
    comment_indent: int | None = None
    skip_deeper_than: int | None = None
    for raw in lines:
        stripped = raw.strip()
        indent = len(raw) - len(raw.lstrip())
        if not stripped:
            comment, comment_indent = [], None
            continue
        if skip_deeper_than is not None and indent > skip_deeper_than:
            continue
        skip_deeper_than = None
        if stripped.startswith("#"):
            text = stripped.lstrip("#").strip()
            if text.startswith("--"):
                comment, comment_indent = [text[2:].strip()], indent
            elif comment and comment_indent == indent:
                comment.append(text)
            continue
        if stripped.startswith("- "):
            skip_deeper_than = indent - 1
            continue
        match = KEY.match(stripped)
        if not match:
            continue
        while stack and stack[-1][0] >= indent:
            stack.pop()
        path = ".".join([name for _, name in stack] + [match.group(1)])
        has_children = not stripped[match.end() :].strip()
        if comment and comment_indent == indent:
            found.append((path, " ".join(comment), has_children))
        stack.append((indent, match.group(1)))
        comment, comment_indent = [], None
    return found


def _value(values: dict[str, Any], path: str) -> Any:
    node: Any = values
    for part in path.split("."):
        node = node[part]
    return node


def table() -> str:
    text = (CHART / "values.yaml").read_text(encoding="utf-8")
    values = yaml.safe_load(text)
    keys = documented_keys(text.splitlines())
    paths = [path for path, _, _ in keys]
    rows = ["| Key | Default | Description |", "| --- | --- | --- |"]
    for path, description, _has_children in keys:
        if any(other.startswith(path + ".") for other in paths):
            continue  # its documented children have rows of their own
        default = json.dumps(_value(values, path), separators=(", ", ": "))
        if len(default) > 60:
            default = "see values.yaml"
        escaped = description.replace("|", "\\|")
        rows.append(f"| `{path}` | `{default}` | {escaped} |")
    return "\n".join(rows)


def main() -> int:
    readme = CHART / "README.md"
    current = readme.read_text(encoding="utf-8")
    before, _, rest = current.partition(START)
    _, _, after = rest.partition(END)
    updated = f"{before}{START}\n{table()}\n{END}{after}"
    if "--check" in sys.argv[1:]:
        if updated != current:
            print(f"{readme} is out of date: run tools/chart_values_table.py", file=sys.stderr)
            return 1
        return 0
    readme.write_text(updated, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
