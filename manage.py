#!/usr/bin/env python3
"""The platform's front door, needing only Python 3.11+.

    python3 manage.py run     start the whole platform on its embedded default (SQLite, demo data)
    python3 manage.py test    lint, type-check and run the whole test suite

    python3 manage.py backup  an encrypted backup of every service's database and keys (BACKUP_PASSPHRASE)
    python3 manage.py restore a backup into empty databases
    python3 manage.py retention  the records due for review, by retention class; expire idempotency records

Each creates the virtual environment in .venv and installs the pinned dependencies on first use
(and again whenever requirements*.txt or constraints.txt change), then hands over to
scripts/platformctl.py inside that environment. The venv holds the runtime dependencies
(requirements.txt, all an image installs) and the development ones (requirements-dev.txt).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
PYTHON = VENV / "bin" / "python"
STAMP = VENV / ".installed"
SOURCE_DIRS = ["libs/*/src", "services/*/src", "gateway/src", "console/src"]
# Runtime (what an image installs) and development (tests, linters, benchmarks) dependencies.
REQUIREMENTS = ("requirements.txt", "requirements-dev.txt")
# What the platform's pages serve from npm, never from a CDN: each folder's package-lock.json pins
# the packages; `npm ci` installs them into that folder's node_modules and the files named here are
# copied into the app's static folder (git-ignored; the images copy the same files, infra/docker).
#   folder: (what it needs, where the files are in node_modules, the files, where they go)
NPM_ASSETS = {
    # The console's GOV.UK Frontend: its built CSS and JS and its fonts and images.
    "console": (
        "GOV.UK Frontend",
        "govuk-frontend/dist/govuk",
        ("govuk-frontend.min.css", "govuk-frontend.min.js", "assets"),
        "src/console/static/govuk",
    ),
    # The gateway's /docs: Swagger UI's stylesheet, bundle, favicon and OAuth2 redirect script.
    "gateway": (
        "Swagger UI",
        "swagger-ui-dist",
        ("swagger-ui.css", "swagger-ui-bundle.js", "favicon-32x32.png", "oauth2-redirect.js"),
        "src/gateway/static/swagger-ui",
    ),
}


def _wanted_stamp() -> str:
    digest = hashlib.sha256()
    for name in (*REQUIREMENTS, "constraints.txt"):
        digest.update((ROOT / name).read_bytes())
    return digest.hexdigest()


def _site_packages() -> Path:
    out = subprocess.check_output(
        [str(PYTHON), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], text=True
    )
    return Path(out.strip())


def ensure_venv() -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - this file runs before the venv exists
        sys.exit("Python 3.11 or newer is needed.")
    wanted = _wanted_stamp()
    if not PYTHON.exists():
        print("Creating the virtual environment in .venv ...", flush=True)
        venv.create(VENV, with_pip=True)
    if not STAMP.exists() or STAMP.read_text() != wanted:
        print("Installing the pinned dependencies (first run only) ...", flush=True)
        subprocess.check_call(
            [
                str(PYTHON),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                *[arg for name in REQUIREMENTS for arg in ("-r", str(ROOT / name))],
                "-c",
                str(ROOT / "constraints.txt"),
            ]
        )
        STAMP.write_text(wanted)
    # The project's own packages are used from their source folders (src layout). The .pth line
    # globs at interpreter start, so a service added later is found without reinstalling.
    globs = " + ".join(f"sorted(__import__('glob').glob({str(ROOT / p)!r}))" for p in SOURCE_DIRS)
    line = f"import sys; sys.path.extend({globs})\n"
    (_site_packages() / "esafety-platform.pth").write_text(line)


def ensure_npm_assets() -> None:
    """For each folder of NPM_ASSETS: `npm ci` when node_modules is missing or the lock changed,
    then copy the files it names into the app."""
    for folder, (what, dist_path, names, target) in NPM_ASSETS.items():
        project = ROOT / folder
        lock = project / "package-lock.json"
        if not lock.exists():
            continue
        modules = project / "node_modules"
        stamp = modules / ".installed"
        wanted = hashlib.sha256(lock.read_bytes()).hexdigest()
        if not stamp.exists() or stamp.read_text() != wanted:
            npm = shutil.which("npm")
            if npm is None:
                sys.exit(
                    f"The {folder} needs npm (Node.js 18 or newer) to install {what} from "
                    f"{folder}/package-lock.json; install Node.js and npm, then run this again."
                )
            print(f"Installing the {folder}'s {what} (npm ci) ...", flush=True)
            # --ignore-scripts: no package runs code at install (swagger-ui-dist's @scarf/scarf
            # would report the install to its vendor).
            subprocess.check_call(
                [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"], cwd=project
            )
            stamp.write_text(wanted)
        dist = modules / dist_path
        static = project / target
        marker = static / ".copied"
        if marker.exists() and marker.read_text() == wanted:
            continue
        if static.exists():
            shutil.rmtree(static)
        static.mkdir(parents=True)
        for name in names:
            source = dist / name
            if source.is_dir():
                shutil.copytree(source, static / name)
            else:
                shutil.copy2(source, static / name)
        marker.write_text(wanted)


def main() -> None:
    ensure_venv()
    ensure_npm_assets()
    script = ROOT / "scripts" / "platformctl.py"
    os.execv(str(PYTHON), [str(PYTHON), str(script), *sys.argv[1:]])  # noqa: S606


if __name__ == "__main__":
    main()
