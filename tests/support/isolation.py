"""Which heavy packages a module pulls in, checked in a fresh interpreter (the Qt-free promises)."""
import subprocess
import sys

#: top-level packages of the GUI stack and of PyMoDAQ
QT = ("PySide6", "PyQt5", "PyQt6", "qtpy", "shiboken6", "pyqtgraph")
PYMODAQ = ("pymodaq", "pymodaq_gui", "pymodaq_utils", "pymodaq_data", "serializall")


def loaded(modules: list[str], forbidden: tuple[str, ...]) -> list[str]:
    """Import ``modules`` in a new interpreter; return the loaded modules whose top package is forbidden."""
    code = ("import importlib, sys\n"
            f"for m in {modules!r}: importlib.import_module(m)\n"
            f"print('\\n'.join(sorted(m for m in sys.modules if m.split('.')[0] in {tuple(forbidden)!r})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return [line for line in out.stdout.splitlines() if line]
