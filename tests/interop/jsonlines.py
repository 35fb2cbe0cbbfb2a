"""Shared by the interop scripts: JSON lines on stdout, waiting on Qt events, a hard exit.

Shared by pmq513_server.py and pmq513_client.py (they run in the PyMoDAQ 5.1.13 and 4.4.11 venvs as
scripts, so this module is imported from their folder).
"""
import argparse
import json
import os
import sys
import time
import traceback

T0 = time.monotonic()


def emit(**kw) -> None:
    kw.setdefault("t", round(time.monotonic() - T0, 4))
    print(json.dumps(kw, default=jsonable), flush=True)


def jsonable(o):
    try:
        import numpy as np
        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
    except ImportError:  # pragma: no cover
        pass
    if isinstance(o, (bytes, bytearray)):
        return bytes(o).decode("utf-8", "replace")
    return str(o)


def parse_edit(text: str):
    """--edit PATH=VALUE (PATH with / or . between names) -> ([names], 'VALUE')."""
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"--edit wants PATH=VALUE, got {text!r}")
    path, value = text.split("=", 1)
    return [p for p in path.replace(".", "/").split("/") if p], value


def spin(cond, until: float, step_s: float = 0.005) -> bool:
    """Process Qt events until ``cond()`` holds or the monotonic time ``until``; return cond()."""
    from qtpy import QtWidgets
    while time.monotonic() < until:
        QtWidgets.QApplication.processEvents()
        if cond():
            return True
        time.sleep(step_s)
    QtWidgets.QApplication.processEvents()
    return bool(cond())


def mkQApp(name: str):
    """PyMoDAQ's QApplication maker (pymodaq_gui in 5.x, pymodaq.utils.gui_utils in 4.x)."""
    try:
        from pymodaq_gui.utils.utils import mkQApp as make
    except ImportError:  # PyMoDAQ 4.x
        from pymodaq.utils.gui_utils.utils import mkQApp as make
    return make(name)


def finish(code: int) -> None:
    """Leave at once: PyMoDAQ's threads (hardware thread, timers) must not block or crash the exit."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def run(main) -> None:
    """The scripts' entry point: run ``main()``; report anything unexpected as a JSON error line, then leave
    at once with its exit code (1 for an unexpected error)."""
    try:
        code = main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException as exc:  # noqa: BLE001 - report anything as JSON, then leave
        emit(event="error", msg=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc())
        code = 1
    finish(code)
