"""Output of the interop scripts: one JSON object per line on stdout, and a hard exit.

Shared by pmq513_server.py and pmq513_client.py (they run in the PyMoDAQ 5.1.13 venv as scripts, so
this module is imported from their folder).
"""
import json
import os
import sys
import time

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


def finish(code: int) -> None:
    """Leave at once: PyMoDAQ's threads (hardware thread, timers) must not block or crash the exit."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
