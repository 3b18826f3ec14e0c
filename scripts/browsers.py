"""The browser the page tests drive: Debian's Chromium at /usr/bin/chromium (never a downloaded build).

`python3 manage.py test` calls `ensure_chromium()` before pytest: as root it installs Debian's
`chromium` package when /usr/bin/chromium is missing; otherwise it says how to, and the browser
tests skip (tests/browser.py) with the same message.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
HOW = "install Debian's chromium (as root: apt-get install -y chromium) to run the browser tests"


def ensure_chromium() -> bool:
    """True when /usr/bin/chromium is there (installed now if need be and we may)."""
    if CHROMIUM.exists():
        return True
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        print(f"== browser tests will skip: {HOW}", flush=True)
        return False
    print("== installing Debian's chromium for the browser tests", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    apt = shutil.which("apt-get") or "apt-get"
    install = [apt, "install", "-y", "-q", "--no-install-recommends", "chromium"]
    if subprocess.call(install, env=env) != 0:
        # The package lists may be missing or stale on a fresh machine.
        subprocess.call([apt, "update", "-q"], env=env)
        subprocess.call(install, env=env)
    if not CHROMIUM.exists():
        print(f"== browser tests will skip: could not {HOW}", flush=True)
    return CHROMIUM.exists()
