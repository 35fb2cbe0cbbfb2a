#!/usr/bin/env python3
"""Render the dashboard with an example experiment opened (docs/dashboard_preset.png).

    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/screenshot_preset.py [docs/dashboard_preset.png] [NAME]

What a user does after ``pymodaq-timetagger-presets``: ``dashboard -x timetagger_rates_g2``, then a few snaps of
each viewer. PyMoDAQ's configuration is a temporary folder (the example is installed there by the command itself), so
the user's configuration is not touched; the Time Tagger is the simulator (``auto`` without hardware). Nothing is
drawn by hand: the picture is the dashboard's window.
"""
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def main(out: str = "docs/dashboard_preset.png", name: str = "timetagger_rates_g2") -> int:
    tmp = Path(tempfile.mkdtemp(prefix="timetagger-preset-"))
    (tmp / "home").mkdir()
    (tmp / "etc").mkdir()
    os.environ["HOME"] = os.environ["USERPROFILE"] = str(tmp / "home")
    import pymodaq_utils.config as pmq_config  # PyMoDAQ's system-wide folder, before PyMoDAQ uses it
    pmq_config.CONFIG_BASE_PATH = tmp / "etc"
    pmq_config.get_set_local_dir.cache_clear()

    from pymodaq_gui.qt_utils import mkQApp
    app = mkQApp("screenshot")
    from pymodaq.dashboard import load_dashboard_with_experiment

    from pymodaq_plugins_timetagger import presets
    if presets.main(["--force", name]) != 0:
        return 1

    def pump_until(condition, timeout_s, what):
        deadline = time.monotonic() + timeout_s
        while not condition():
            if time.monotonic() > deadline:
                raise SystemExit(f"{what}: not within {timeout_s} s")
            app.processEvents()
            time.sleep(0.01)

    dashboard, _, shared_ui = load_dashboard_with_experiment(name)
    pump_until(lambda: dashboard.state_manager.entry_applied, 60, "the experiment and its default state")
    window = shared_ui.parent
    window.resize(1500, 820)
    for det in dashboard.detector_modules:  # a few snaps each: the 0D traces show a line
        grabbed = []
        det.grab_done_signal.connect(grabbed.append)
        for n in range(1, 5):
            det.snap()
            pump_until(lambda: len(grabbed) >= n, 30, f"a grab of {det.title}")
    for _ in range(50):
        app.processEvents()
        time.sleep(0.01)
    window.grab().save(out)
    print(f"wrote {out}")
    dashboard.quit_fun()
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
