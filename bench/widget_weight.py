"""Widget weight: gzipped bytes of ``/widget.js`` as activity-api serves it.

The figure is a count, so it needs no baseline: the target is under 6 KB gzipped (issue 17, the
element with its charts, streaks and pacing). The script is fetched through the real app (Flask
test client), so what is measured is what browsers get.
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "widget_weight.json"
LIMIT = 6 * 1024


def main() -> int:
    from activity_api.widget import bp
    from flask import Flask

    app = Flask(__name__)
    app.register_blueprint(bp)
    body = app.test_client().get("/widget.js").data
    gzipped = len(gzip.compress(body, 9))
    result = {
        "raw_bytes": len(body),
        "gzip_bytes": gzipped,
        "limit_bytes": LIMIT,
        "ratio_to_limit": round(gzipped / LIMIT, 3),
        "pass": gzipped < LIMIT,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"widget.js: {len(body)} bytes raw")
    print(f"widget.js gzipped: {gzipped} bytes ({result['ratio_to_limit']:.0%} of the 6 KB limit)")
    return 0 if result["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
