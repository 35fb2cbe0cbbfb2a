#!/usr/bin/env python3
"""The project's two set-up commands, for a fresh machine that has nothing but python3.

    python3 tasks.py demo    # the main job on the simulated Time Tagger (no hardware, no display)
    python3 tasks.py test    # the whole test suite, headless

(on Windows: ``py tasks.py demo``, ``py tasks.py test``; the environment's Python is then
``.venv\Scripts\python.exe``)

and, once set up, ``python3 tasks.py bench`` for the benchmarks (benchmarks/run.py; adds Pyro5 for the
comparison with the TimeTaggerRPC route).

Both create (once) a virtual environment in ``.venv`` and install the package with its test and demo
extras into it from the package index; later runs reuse it and reinstall only when setup.cfg changed.
On Debian, where ``python3 -m venv`` needs the ``python3-venv`` package, it is installed with apt-get
when running as root, otherwise the command says what to install. Extra arguments after ``test`` go to
pytest (``python3 tasks.py test -k simulator``), after ``demo`` to the demo.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
PY = VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
STAMP = VENV / ".installed-from"
EXTRAS = "test,demo"
BENCH_EXTRAS = "test,demo,bench"


def run(cmd, **kw) -> int:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    return subprocess.call([str(c) for c in cmd], **kw)


def make_venv() -> None:
    if PY.exists():
        return
    if run([sys.executable, "-m", "venv", VENV]) == 0 and PY.exists():
        return
    shutil.rmtree(VENV, ignore_errors=True)
    if shutil.which("apt-get") and hasattr(os, "geteuid") and os.geteuid() == 0:
        ver = f"python{sys.version_info.major}.{sys.version_info.minor}-venv"
        run(["apt-get", "update", "-q"])
        if run(["apt-get", "install", "-y", "-q", "python3-venv"]) != 0:
            run(["apt-get", "install", "-y", "-q", ver])
        if run([sys.executable, "-m", "venv", VENV]) == 0 and PY.exists():
            return
    if os.name == "nt":
        sys.exit("cannot create a virtual environment: reinstall Python from python.org (it includes venv) "
                 "and run this command again with 'py tasks.py ...'")
    sys.exit("cannot create a virtual environment: install the venv module of your Python "
             "(Debian/Ubuntu: sudo apt-get install python3-venv) and run this command again")


def install(extras: str = EXTRAS) -> None:
    make_venv()
    wanted = hashlib.sha256((ROOT / "setup.cfg").read_bytes() + extras.encode()).hexdigest()
    if STAMP.exists() and STAMP.read_text().strip() == wanted:
        return
    if run([PY, "-m", "pip", "install", "-q", "--upgrade", "pip"]) != 0:
        print("warning: could not upgrade pip, going on with the one the venv has", flush=True)
    if run([PY, "-m", "pip", "install", "-q", "-e", f"{ROOT}[{extras}]"]) != 0:
        sys.exit("installing the package and its dependencies failed (see pip's message above)")
    STAMP.write_text(wanted)


def headless_env() -> dict:
    env = dict(os.environ)
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    env.setdefault("MPLBACKEND", "Agg")
    return env


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("demo", "test", "bench"):
        print(__doc__)
        return 2
    if argv[0] == "bench":
        install(BENCH_EXTRAS)
        return run([PY, "benchmarks/run.py", *argv[1:]], cwd=ROOT, env=headless_env())
    install()
    if argv[0] == "demo":
        return run([PY, "-m", "pymodaq_plugins_timetagger.demo", *argv[1:]], cwd=ROOT, env=headless_env())
    return run([PY, "-m", "pytest", *argv[1:]], cwd=ROOT, env=headless_env())


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
