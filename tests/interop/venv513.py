"""A separate venv with PyMoDAQ 5.1.13 and pymodaq-plugins-mock 5.0.12, the last releases with the TCP server.

PyMoDAQ removed its TCP/IP remote mode in 5.2.0, so the interoperability tests run PyMoDAQ's own
server (``DAQ_1DViewer_TCPServer``) and its own remote DAQ_Viewer client in this venv, as subprocesses
(``pmq513_server.py``, ``pmq513_client.py`` beside this file).

``ensure_venv()`` creates the venv once (``sys.executable -m venv`` + pip from the configured index, by
tests/interop/venvs.py, which builds the other legs too) and writes a marker file holding the requirements; later calls only check the marker and return the python
executable. A file lock makes concurrent callers (pytest-xdist workers) wait for one creator.
Failure (no network, resolver error, import check) raises :class:`InteropVenvError` with the reason;
:func:`interop_python_or_skip` turns that into ``pytest.skip``.

Command line: ``python tests/interop/venv513.py [--path DIR] [--force]`` prints the python path and the time.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

try:
    from venvs import InteropVenvError, Leg, REPO, ensure, venv_python  # run as a script
except ImportError:
    from tests.interop.venvs import InteropVenvError, Leg, REPO, ensure, venv_python

__all__ = ["DEFAULT_PATH", "REQUIREMENTS", "InteropVenvError", "ensure_venv", "interop_python_or_skip",
           "venv_python"]

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
VERSION_PREFIXES = ("5.1.13", "5.0.12")

LEG = Leg("pymodaq-5.1.13-pyside6", tuple(REQUIREMENTS), IMPORT_CHECK, VERSION_PREFIXES, path=DEFAULT_PATH,
          marker=MARKER)


def ensure_venv(path: Path = DEFAULT_PATH, *, force: bool = False, quiet: bool = True) -> Path:
    """Return the python executable of the interop venv at ``path``, creating the venv first if needed.

    Idempotent: a marker file records a finished, checked install. Raises :class:`InteropVenvError`.
    """
    return ensure(dataclasses.replace(LEG, path=Path(path)), force=force, quiet=quiet, lock_prefix="interop513")


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
