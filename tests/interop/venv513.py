"""A separate venv with PyMoDAQ 5.1.13 and pymodaq-plugins-mock 5.0.12, the last releases with the TCP server.

PyMoDAQ removed its TCP/IP remote mode in 5.2.0, so the interoperability tests run PyMoDAQ's own
server (``DAQ_1DViewer_TCPServer``) and its own remote DAQ_Viewer client in this venv, as subprocesses
(``pmq513_server.py``, ``pmq513_client.py`` beside this file).

``ensure_venv()`` creates the venv once (``sys.executable -m venv`` + pip from the configured index) and
writes a marker file holding the requirements; later calls only check the marker and return the python
executable. A file lock makes concurrent callers (pytest-xdist workers) wait for one creator.
Failure (no network, resolver error, import check) raises :class:`InteropVenvError` with the reason;
:func:`interop_python_or_skip` turns that into ``pytest.skip``.

Command line: ``python tests/interop/venv513.py [--path DIR] [--force]`` prints the python path and the time.
"""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEFAULT_PATH = REPO / ".venv-interop513"

#: PySide6 6.12.0 crashes at interpreter exit with pymodaq 5.1.x (and pymodaq 5.3's own pyside6 extra excludes it);
#: 6.11.x works. numpy is a dependency anyway, named for clarity.
REQUIREMENTS = [
    "pymodaq==5.1.13",
    "pymodaq-plugins-mock==5.0.12",
    "PySide6-Essentials>=6.6,<6.12",
    "numpy",
]
#: What must import in the new venv for it to count as usable.
IMPORT_CHECK = (
    "import pymodaq, pymodaq_utils, pymodaq_gui, PySide6, numpy; "
    "from pymodaq_plugins_mock.daq_viewer_plugins.plugins_1D import daq_1Dviewer_TCPServer; "
    "from pymodaq.utils.tcp_ip import tcp_server_client; "
    "import importlib.metadata as m; "
    "print(m.version('pymodaq'), m.version('pymodaq_plugins_mock'), PySide6.__version__)"
)
MARKER = "interop513-ready.json"
PIP_TIMEOUT_S = 1200
VERSION_PREFIXES = ("5.1.13", "5.0.12")


class InteropVenvError(RuntimeError):
    """The interop venv could not be created or does not work; the message says why."""


def venv_python(path: Path) -> Path:
    return Path(path) / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _marker_ok(path: Path) -> bool:
    marker = Path(path) / MARKER
    try:
        info = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return info.get("requirements") == REQUIREMENTS and venv_python(path).exists()


@contextlib.contextmanager
def _lock(path: Path):
    # the lock lives outside the work tree (git must not see it) and survives the venv's deletion
    digest = hashlib.sha1(str(Path(path).resolve()).encode()).hexdigest()[:12]
    lock_file = Path(tempfile.gettempdir()) / f"interop513-{digest}.lock"
    with open(lock_file, "w") as fh:
        try:
            import fcntl
        except ImportError:  # Windows: no lock, single creator assumed
            yield
            return
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _run(cmd, timeout, what):
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise InteropVenvError(f"{what}: timed out after {timeout} s") from None
    except OSError as exc:
        raise InteropVenvError(f"{what}: {exc}") from None
    if res.returncode != 0:
        tail = "\n".join((res.stdout + res.stderr).strip().splitlines()[-15:])
        raise InteropVenvError(f"{what} failed (exit {res.returncode}):\n{tail}")
    return res


def ensure_venv(path: Path = DEFAULT_PATH, *, force: bool = False, quiet: bool = True) -> Path:
    """Return the python executable of the interop venv at ``path``, creating the venv first if needed.

    Idempotent: a marker file records a finished, checked install. Raises :class:`InteropVenvError`.
    """
    path = Path(path)
    if not force and _marker_ok(path):
        return venv_python(path)
    with _lock(path):
        if not force and _marker_ok(path):  # another process finished it while we waited
            return venv_python(path)
        t0 = time.monotonic()
        if path.exists():
            shutil.rmtree(path)
        _run([sys.executable, "-m", "venv", str(path)], 300, "python -m venv")
        # keep git from ever seeing the venv, without touching the repository's .gitignore
        (path / ".gitignore").write_text("*\n")
        py = venv_python(path)
        pip = [str(py), "-m", "pip", "install", "--disable-pip-version-check"]
        if quiet:
            pip.append("-q")
        _run(pip + REQUIREMENTS, PIP_TIMEOUT_S, "pip install " + " ".join(REQUIREMENTS))
        res = _run([str(py), "-c", IMPORT_CHECK], 300, "import check in the interop venv")
        versions = res.stdout.strip().split()
        if len(versions) < 3 or tuple(versions[:2]) != VERSION_PREFIXES:
            raise InteropVenvError(f"unexpected versions in the interop venv: {versions}")
        elapsed = time.monotonic() - t0
        (path / MARKER).write_text(json.dumps({
            "requirements": REQUIREMENTS,
            "versions": {"pymodaq": versions[0], "pymodaq_plugins_mock": versions[1], "PySide6": versions[2]},
            "created_in_s": round(elapsed, 1),
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }, indent=1))
        return py


def interop_python_or_skip(path: Path = DEFAULT_PATH) -> Path:
    """For tests: the interop python, or ``pytest.skip`` naming why the venv is not available."""
    import pytest
    try:
        return ensure_venv(path)
    except InteropVenvError as exc:
        pytest.skip(f"PyMoDAQ 5.1.13 interop venv unavailable: {exc}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--path", type=Path, default=DEFAULT_PATH)
    ap.add_argument("--force", action="store_true", help="delete and recreate")
    ap.add_argument("--verbose", action="store_true", help="show pip's output on failure only; -q off")
    args = ap.parse_args(argv)
    t0 = time.monotonic()
    try:
        py = ensure_venv(args.path, force=args.force, quiet=not args.verbose)
    except InteropVenvError as exc:
        print(f"FAILED after {time.monotonic() - t0:.1f} s: {exc}", file=sys.stderr)
        return 1
    print(f"{py}  ({time.monotonic() - t0:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
