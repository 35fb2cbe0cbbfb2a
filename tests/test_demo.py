"""The README's main job (python3 tasks.py demo) and the HOM demo (demo hom) run, end to end, in a subprocess."""
import re
import subprocess
import sys

import numpy as np


def test_the_demo_runs_the_whole_chain(tmp_path):
    out = subprocess.run([sys.executable, "-m", "pymodaq_plugins_timetagger.demo", "--grabs", "2",
                          "--integration", "0.5", "--out", str(tmp_path)], capture_output=True, text=True,
                         timeout=180)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    rows = [line for line in out.stdout.splitlines() if re.match(r"\| [12] \|", line)]
    assert len(rows) == 2
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert float(cells[1]) == 0.5 and float(cells[8]) == 0.5  # exact capture durations
        assert abs(float(cells[4]) - 5000.0) < 0.1  # ch3: the 5 MHz laser sync, in kHz
        assert 0 <= float(cells[9]) < 0.5  # g2(0) of the simulated single emitter
    assert "SIMULATED" in out.stdout and "single emitter" in out.stdout
    png = tmp_path / "g2_bridge.png"
    assert png.is_file() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


def test_the_g2_figure_title_fits_the_figure():
    import matplotlib.pyplot as plt
    import numpy as np

    from pymodaq_plugins_timetagger.demo import g2_figure
    device = "SIMULATED Time Tagger Ultra (no hardware; serial SIM-ULTRA-0001, the simulator of this package)"
    fig = g2_figure(np.linspace(-5e-8, 5e-8, 201), np.ones(201), f"received over the TCP bridge from {device}\n"
                    "g2(0) = 0.134 (1.0 s)")
    try:
        fig.canvas.draw()
        title = fig.axes[0].title.get_window_extent()
        assert 0 <= title.x0 and title.x1 <= fig.bbox.width and title.y1 <= fig.bbox.height, (title, fig.bbox)
    finally:
        plt.close(fig)


def test_the_hom_demo_scans_the_dip_in_daq_scan_and_fits_it(tmp_path):
    """python3 tasks.py demo hom: a real DAQ_Scan of the simulated delay stage; the fit finds the set-up's V."""
    out = subprocess.run([sys.executable, "-m", "pymodaq_plugins_timetagger.demo", "hom", "--points", "13",
                          "--step-s", "0.05", "--out", str(tmp_path)], capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    m = re.search(r"visibility V = ([0-9.]+) ± ([0-9.]+) \(set-up: ([0-9.]+)\)", out.stdout)
    assert m, out.stdout[-2000:]
    v, sigma, truth = map(float, m.groups())
    assert abs(v - truth) < 4 * sigma and sigma < 0.05
    assert "DAQ_Scan: 13 steps" in out.stdout
    png = tmp_path / "hom_dip.png"
    assert png.is_file() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = np.loadtxt(tmp_path / "hom_dip.csv", delimiter=",", skiprows=1)
    assert rows.shape == (13, 3) and rows[:, 1].min() < 0.3 * rows[:, 1].max()   # the dip is in the data
    assert list(tmp_path.rglob("*.h5")), "DAQ_Scan saved its h5 file in the output folder"
