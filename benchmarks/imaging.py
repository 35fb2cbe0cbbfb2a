"""Hardware-timed image against a point-by-point DAQ_Scan, and the simulator's real time with the image's counters.

1. A 100 × 100 image at 1 ms dwell (30 × 30 with --quick) on ``sim:confocal`` (wall clock), through the image
   run the plugin uses: when it arrives after its frame's first marker, against 1.1 × its dwell.
2. The same image point by point: PyMoDAQ's real Dashboard and DAQ_Scan moving the Mock stage with the Countrate
   plugin at 1 ms per step (benchmarks/scan.py, the local route); a few hundred steps (30 with --quick) are timed
   and the median step is EXTRAPOLATED to the image's 10 000 steps. The ratio of the two is the headline figure.
3. Real time: 10 s of the scanner's markers plus 2 × 1 Mcps of photons with the image's four CountBetweenMarkers,
   on the virtual clock, pinned to one core, numba kernels: stream seconds per wall second (≥ 1 is real time).
"""
from __future__ import annotations

import os
import time

from pymodaq_plugins_timetagger import imaging
from pymodaq_plugins_timetagger.hardware.access import open_tagger
from pymodaq_plugins_timetagger.hardware.simulator import kernels
from pymodaq_plugins_timetagger.hardware.simulator.setups import confocal_scene

MS_PS = 10 ** 9
#: the image's arrival after its first marker, at most this many times its dwell (issue's target)
TARGET_ARRIVAL_FACTOR = 1.1
#: hardware-timed against point by point, at least (the issue's expectation)
TARGET_RATIO = 30.0


def _image(pixels: int, dwell_ms: float, clock: str = "wall", background_hz: float = 5e3):
    sources = confocal_scene(n_x=pixels, n_y=pixels, pixel_um=10.0 / pixels, dwell_ps=int(dwell_ms * MS_PS),
                             line_flyback_ps=0, frame_flyback_ps=MS_PS, background_hz=background_hz)
    return sources, imaging.make_settings("image", pixels_per_line=pixels, lines_per_frame=pixels,
                                          frame_timeout_s=120.0)


def arrival(pixels: int, dwell_ms: float = 1.0) -> dict:
    sources, settings = _image(pixels, dwell_ms)
    with open_tagger("sim:confocal", sim_sources=sources) as h:
        run = imaging.ImageRun(h, settings)
        t0 = time.monotonic()
        frame = run.acquire()
        waited = time.monotonic() - t0
        run.close()
    dwell_s = pixels * pixels * dwell_ms * 1e-3
    after = waited - frame.metadata["frame_start_after_first_marker_s"]
    return {"pixels": pixels * pixels, "dwell_total_s": dwell_s, "frame_s": frame.capture_s,
            "after_first_marker_s": after, "factor": after / dwell_s}


def realtime(seconds: float = 10.0) -> dict:
    """Stream s per wall s: markers of a 1 ms-dwell scan plus 2 × 1 Mcps photons, the image's counters attached."""
    kernels.set_backend("numba" if kernels.numba_available() else "numpy")
    sources, settings = _image(100, 1.0, background_hz=1e6)
    with open_tagger("sim:confocal", sim_clock="virtual", sim_seed=1, sim_sources=sources) as h:
        run = imaging.ImageRun(h, settings)
        for m in run._meas:
            m.clear()
            m.start()
        t0, c0 = time.perf_counter(), time.process_time()
        h.tagger.sim_advance(int(seconds * 1e12))
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        photons = sum(int(m.getData().sum()) for m in run._meas[:2])
        run.close()
    return {"stream_s": seconds, "wall_s": wall, "cpu_s": cpu, "speed": seconds / wall,
            "photons_per_s": photons / seconds, "kernels": kernels.backend()}


def section(args, report) -> None:
    import scan
    pixels, steps = (30, 30) if args.quick else (100, 300)
    img = arrival(pixels)
    scanned = scan.measure(routes=("local",), steps=steps, integration_s=0.001)["local"]
    if isinstance(scanned, str):
        print(f"\n## Image\n\nDAQ_Scan failed: {scanned}")
        return
    step_s = sorted(scanned["step_s"])[len(scanned["step_s"]) // 2]
    point_by_point_s = step_s * pixels * pixels
    ratio = point_by_point_s / img["after_first_marker_s"]
    if hasattr(os, "sched_setaffinity"):
        cores = os.sched_getaffinity(0)
        os.sched_setaffinity(0, {sorted(cores)[0]})
        rt = realtime()
        os.sched_setaffinity(0, cores)
    else:
        rt = realtime()
    print(f"\n## Hardware-timed image ({pixels} x {pixels} pixels, 1 ms dwell)\n\n"
          f"| | time |\n|---|---|\n"
          f"| dwell of the whole image | {img['dwell_total_s']:.2f} s |\n"
          f"| frame (first to last pixel, from the markers) | {img['frame_s']:.3f} s |\n"
          f"| image returned after its first marker | {img['after_first_marker_s']:.3f} s "
          f"({img['factor']:.3f} x the dwell) |\n"
          f"| DAQ_Scan, Countrate 1 ms per step, Mock stage: median step of {steps} timed | {step_s * 1e3:.1f} ms |\n"
          f"| the same image point by point (median step x {pixels * pixels}, EXTRAPOLATED) | "
          f"{point_by_point_s:.1f} s |\n| **ratio** | **{ratio:.0f} x** |\n\n"
          f"Simulator, one core, {rt['kernels']} kernels: {rt['stream_s']:.0f} s of scanner markers + "
          f"{rt['photons_per_s'] / 1e6:.2f} Mcps counted by the image's counters in {rt['wall_s']:.2f} s wall "
          f"({rt['speed']:.1f} x real time)")
    report["imaging"] = {"image": img, "daq_scan_step_s": step_s, "daq_scan_steps_timed": steps,
                         "point_by_point_extrapolated_s": point_by_point_s, "ratio": ratio, "realtime": rt}
    targets = report.setdefault("targets", [])
    targets.append((f"image arrives <= {TARGET_ARRIVAL_FACTOR} x its dwell after its first marker",
                    img["factor"] <= TARGET_ARRIVAL_FACTOR, f"{img['factor']:.3f} x"))
    targets.append((f"hardware-timed image >= {TARGET_RATIO:.0f} x faster than DAQ_Scan point by point",
                    ratio >= TARGET_RATIO, f"{ratio:.0f} x (DAQ_Scan extrapolated from {steps} steps)"))
    targets.append(("simulator real time: scanner markers + 2 x 1 Mcps with the image, one core",
                    rt["speed"] >= 1.0, f"{rt['speed']:.1f} x"))
