"""`make test-images` never passes by skipping: without podman the image tests fail and say
why (CI runs them on a fresh machine, where a silent skip would hide images that never ran).

Not marked `images`: it runs in `make test`, and needs no podman itself.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_image_tests_fail_with_a_clear_message_when_podman_is_missing(tmp_path: Path) -> None:
    # A PATH with this Python and nothing else: no podman to be found.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python").symlink_to(sys.executable)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "tests/images/test_images.py",
            "-m",
            "images",
            "-q",
            "-p",
            "no:cacheprovider",
        ],
        cwd=ROOT,
        env={**os.environ, "PATH": str(bin_dir)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1, result.stdout[-2000:]
    assert "podman is not installed" in result.stdout
    assert "skipped" not in result.stdout.splitlines()[-1]
    assert "passed" not in result.stdout.splitlines()[-1]
