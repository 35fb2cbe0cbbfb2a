"""Separate venvs with older PyMoDAQ releases, built once from the package index and cached.

One :class:`Leg` per environment; ``ensure(leg)`` creates the venv under ``.venv-interop/<name>`` (or the
leg's own path) the first time, checks that it imports and has the expected versions, and writes a marker
file (requirements + versions + build time). Later calls only read the marker, so a run with warm venvs
pays nothing; a change of the leg's requirements (or, for a leg that installs this package, of setup.cfg)
rebuilds it. A file lock (outside the work tree) makes concurrent callers wait for one builder. Failure (no
network, resolver error, import check) raises :class:`InteropVenvError` with the reason;
:func:`python_or_skip` turns it into ``pytest.skip``.

The legs (versions and Qt bindings as tested; see README "PyMoDAQ versions"):

* ``LEG_44``: PyMoDAQ 4.4.11 + pymodaq-plugins-mock 4.4.5, PyQt5, ``pyqtgraph==0.13.7`` (0.14 breaks
  4.4's DAQ_Viewer), ``numpy<2`` (4.4 requires it): interop of the ``pymodaq4`` dialect both ways, and the
  frames of 4.4's own serializer (``pmq44_frames.py``).
* ``LEG_51``: PyMoDAQ 5.1.13 + pymodaq-plugins-mock 5.0.12 (its ``TCPServer`` plugins installed beside
  ours), PyQt5, and this package (editable, no dependencies): the Qt-free suites and our plugins in a real
  DAQ_Viewer (``viewer_check.py``).
* ``LEG_50``: PyMoDAQ 5.0.18 with ``pymodaq-data<5.1`` (today's resolver otherwise pairs 5.0.18 with
  pymodaq_data 5.3, which breaks PyMoDAQ's own imports; 5.0.x comes with pymodaq_utils 0.0.x) and
  ``pyqtgraph==0.13.7`` (with 0.14, 5.0.18's DAQ_Viewer fails to build its settings tree: "No Value has
  been set"), pymodaq-plugins-mock 5.0.12 (its ``TCPServer`` beside ours), PyQt5, this package: our
  plugins in a DAQ_Viewer.
* ``LEG_52``: PyMoDAQ 5.2.12 (no TCP/IP remote mode any more; today it comes with pymodaq_utils 5.3),
  PyQt5, this package: our plugins in a DAQ_Viewer.

Command line: ``python tests/interop/venvs.py [44|51|50|52 ...] [--force]`` builds and prints the time per leg.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
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
ROOT = REPO / ".venv-interop"
PIP_TIMEOUT_S = 1200


class InteropVenvError(RuntimeError):
    """An interop venv could not be created or does not work; the message says why."""


@dataclasses.dataclass(frozen=True)
class Leg:
    name: str                      # e.g. "pymodaq-4.4.11"
    requirements: tuple            # pip requirement strings
    import_check: str              # python code that must run and print the versions, space-separated
    versions: tuple                # expected prefixes of those versions
    install_self: bool = False     # also `pip install --no-deps -e REPO` (our plugins' entry points)
    path: Path | None = None       # default ROOT / name
    marker: str = "ready.json"

    @property
    def where(self) -> Path:
        return Path(self.path) if self.path is not None else ROOT / self.name

    def fingerprint(self) -> list:
        extra = [hashlib.sha256((REPO / "setup.cfg").read_bytes()).hexdigest()] if self.install_self else []
        return list(self.requirements) + extra


def _versions_check(*dists: str) -> str:
    names = ", ".join(repr(d) for d in dists)
    return f"import importlib.metadata as m; print(*[m.version(d) for d in ({names},)])"


LEG_44 = Leg(
    "pymodaq-4.4.11",
    ("pymodaq==4.4.11", "pymodaq-plugins-mock==4.4.5", "PyQt5==5.15.11", "pyqtgraph==0.13.7", "numpy<2"),
    "from pymodaq.utils.tcp_ip import serializer, tcp_server_client; "
    "from pymodaq.control_modules.daq_viewer import DAQ_Viewer; "
    "from pymodaq_plugins_mock.daq_viewer_plugins.plugins_1D import daq_1Dviewer_TCPServer; "
    + _versions_check("pymodaq", "pymodaq_plugins_mock", "pyqtgraph"),
    ("4.4.11", "4.4.5", "0.13.7"))

_LEG5_TEST_TOOLS = ("pytest>=7", "pytest-timeout", "hypothesis")
#: this package's own dependencies besides PyMoDAQ and numpy (setup.cfg install_requires): the legs install the
#: package itself without dependencies, to keep the leg's pins
_OUR_DEPENDENCIES = ("scipy", "iminuit>=2.20")

LEG_51 = Leg(
    "pymodaq-5.1.13",
    ("pymodaq==5.1.13", "pymodaq-plugins-mock==5.0.12", "PyQt5==5.15.11", *_LEG5_TEST_TOOLS, *_OUR_DEPENDENCIES),
    "from pymodaq.control_modules.daq_viewer import DAQ_Viewer; import pymodaq_plugins_timetagger; "
    + _versions_check("pymodaq", "pymodaq_plugins_mock", "pymodaq_utils"),
    ("5.1.13", "5.0.12", "5.1."), install_self=True)

LEG_50 = Leg(
    "pymodaq-5.0.18",
    ("pymodaq==5.0.18", "pymodaq-data<5.1", "pyqtgraph==0.13.7", "pymodaq-plugins-mock==5.0.12",
     "PyQt5==5.15.11", *_LEG5_TEST_TOOLS, *_OUR_DEPENDENCIES),
    "from pymodaq.control_modules.daq_viewer import DAQ_Viewer; import pymodaq_plugins_timetagger; "
    + _versions_check("pymodaq", "pymodaq_data", "pymodaq_plugins_mock", "pymodaq_utils"),
    ("5.0.18", "5.0.", "5.0.12"), install_self=True)

LEG_52 = Leg(
    "pymodaq-5.2.12",
    ("pymodaq==5.2.12", "PyQt5==5.15.11", *_LEG5_TEST_TOOLS, *_OUR_DEPENDENCIES),
    # no pymodaq import here: PyMoDAQ >= 5.2 starts a pyleco Coordinator (a child it never stops) when imported
    # and none answers; viewer_check.py imports it, and stops the Coordinator it started
    "import qtpy, numpy, pymodaq_plugins_timetagger; "
    + _versions_check("pymodaq", "pymodaq_utils"),
    ("5.2.12", "5."), install_self=True)

LEGS = {"44": LEG_44, "51": LEG_51, "50": LEG_50, "52": LEG_52}


def venv_python(path: Path) -> Path:
    return Path(path) / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _marker_ok(leg: Leg) -> bool:
    try:
        info = json.loads((leg.where / leg.marker).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return info.get("requirements") == leg.fingerprint() and venv_python(leg.where).exists()


@contextlib.contextmanager
def _lock(path: Path, prefix: str = "interop"):
    # the lock lives outside the work tree (git must not see it) and survives the venv's deletion
    digest = hashlib.sha1(str(Path(path).resolve()).encode()).hexdigest()[:12]
    with open(Path(tempfile.gettempdir()) / f"{prefix}-{digest}.lock", "w") as fh:
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


def run_checked(cmd, timeout, what):
    try:
        # files, not pipes: a process left behind by cmd (a Coordinator...) must not keep us waiting for EOF
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            res = subprocess.run(cmd, stdout=out, stderr=err, text=True, timeout=timeout, env=leg_env())
            out.seek(0)
            err.seek(0)
            res.stdout, res.stderr = out.read(), err.read()
    except subprocess.TimeoutExpired:
        raise InteropVenvError(f"{what}: timed out after {timeout} s") from None
    except OSError as exc:
        raise InteropVenvError(f"{what}: {exc}") from None
    if res.returncode != 0:
        tail = "\n".join((res.stdout + res.stderr).strip().splitlines()[-15:])
        raise InteropVenvError(f"{what} failed (exit {res.returncode}):\n{tail}")
    return res


def ensure(leg: Leg, *, force: bool = False, quiet: bool = True, lock_prefix: str = "interop") -> Path:
    """The python executable of ``leg``'s venv, built first if needed (idempotent; InteropVenvError)."""
    if not force and _marker_ok(leg):
        return venv_python(leg.where)
    path = leg.where
    with _lock(path, lock_prefix):
        if not force and _marker_ok(leg):  # another process finished it while we waited
            return venv_python(path)
        t0 = time.monotonic()
        if path.exists():
            shutil.rmtree(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.parent == ROOT:
            (ROOT / ".gitignore").write_text("*\n")
        run_checked([sys.executable, "-m", "venv", str(path)], 300, "python -m venv")
        # keep git from ever seeing the venv, without touching the repository's .gitignore
        (path / ".gitignore").write_text("*\n")
        py = venv_python(path)
        pip = [str(py), "-m", "pip", "install", "--disable-pip-version-check"] + (["-q"] if quiet else [])
        run_checked(pip + list(leg.requirements), PIP_TIMEOUT_S, "pip install " + " ".join(leg.requirements))
        if leg.install_self:
            # no dependencies: the leg's pins stay as they are (our install_requires allows them)
            run_checked(pip + ["--no-deps", "-e", str(REPO)], PIP_TIMEOUT_S, "pip install -e (this package)")
        res = run_checked([str(py), "-c", leg.import_check], 300, f"import check in {path.name}")
        versions = res.stdout.strip().split()
        if len(versions) < len(leg.versions) or not all(v.startswith(p) for v, p in zip(versions, leg.versions)):
            raise InteropVenvError(f"unexpected versions in {path.name}: {versions} (expected {leg.versions})")
        (path / leg.marker).write_text(json.dumps({
            "requirements": leg.fingerprint(), "versions": versions,
            "created_in_s": round(time.monotonic() - t0, 1), "created_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }, indent=1), encoding="utf-8")
        return py


def leg_env() -> dict:
    """The environment for a process in a leg's venv: this one's, less ``QT_API`` (qtpy sets it to the binding
    it found here, e.g. pyside6, which the leg may not have: qtpy there would then find no binding at all)."""
    env = {k: v for k, v in os.environ.items() if k != "QT_API"}
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    return env


def python_or_skip(leg: Leg) -> Path:
    """For tests: the leg's python, or ``pytest.skip`` naming why the venv is not available (``pytest.fail`` in
    CI, where ``CI=true``: a leg that cannot be built there must not pass unnoticed as a skip)."""
    import pytest
    try:
        return ensure(leg)
    except InteropVenvError as exc:
        message = f"{leg.name} venv unavailable: {exc}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("legs", nargs="*", default=list(LEGS), choices=list(LEGS) + [[]])
    ap.add_argument("--force", action="store_true", help="delete and recreate")
    ap.add_argument("--verbose", action="store_true", help="pip without -q")
    args = ap.parse_args(argv)
    code = 0
    for key in args.legs:
        t0 = time.monotonic()
        try:
            py = ensure(LEGS[key], force=args.force, quiet=not args.verbose)
        except InteropVenvError as exc:
            print(f"{key}: FAILED after {time.monotonic() - t0:.1f} s: {exc}", file=sys.stderr)
            code = 1
            continue
        print(f"{key}: {py}  ({time.monotonic() - t0:.1f} s)")
    return code


if __name__ == "__main__":
    sys.exit(main())
