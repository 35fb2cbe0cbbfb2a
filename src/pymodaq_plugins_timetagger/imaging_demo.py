"""The hardware-timed demo: a confocal image from a scanner's pixel clock and a Rabi curve from a pulse sequencer.

    python -m pymodaq_plugins_timetagger.demo image [--out out] [--pixels 100] [--dwell-ms 1] [--sweeps 20000]

Both on the simulated set-ups (``sim:confocal``, ``sim:pulsed``, wall clock: the image takes its real dwell time),
through the same Qt-free runs the viewer plugins use (imaging.py). Writes ``out/confocal_image.png`` (the count
rate of both detectors, with the true emitter positions marked) and ``out/rabi.png`` (counts per sweep in the
readout window of each step with their Poisson error bars, and the simulated spin's expectation), and prints the
figures: the frame's duration against its dwell, and the Rabi curve's χ².
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from . import imaging
from .hardware.access import open_tagger
from .hardware.simulator.setups import confocal_scene, pulsed_scene

MS_PS = 10 ** 9


def confocal(out: Path, pixels: int, dwell_ms: float) -> dict:
    field_um = 10.0
    sources = confocal_scene(n_x=pixels, n_y=pixels, pixel_um=field_um / pixels, dwell_ps=int(dwell_ms * MS_PS),
                             line_flyback_ps=MS_PS // 10, frame_flyback_ps=MS_PS)
    scanner = sources[0]
    with open_tagger("sim:confocal", sim_sources=sources) as h:
        run = imaging.ImageRun(h, imaging.make_settings("image", pixels_per_line=pixels, lines_per_frame=pixels))
        t0 = time.monotonic()
        frame = run.acquire()
        waited = time.monotonic() - t0
        run.close()
    rate = sum(c / frame.dwell_s for c in frame.counts)
    truth = 2 * scanner.rate_map_hz()
    expected = truth * frame.dwell_s
    z = (sum(frame.counts) - expected) / np.sqrt(expected)

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 5), dpi=110)
    im = ax.imshow(rate / 1e3, origin="lower", extent=(0, field_um, 0, field_um), cmap="inferno")
    ax.plot([e.x_um for e in scanner.emitters], [e.y_um for e in scanner.emitters], "c+", ms=10,
            label="true emitter positions")
    fig.colorbar(im, ax=ax, label="count rate, ch1 + ch2 (kHz)")
    ax.set_xlabel("x (µm)")
    ax.set_ylabel("y (µm)")
    ax.set_title(f"simulated confocal image, {pixels} × {pixels} pixels, {dwell_ms:g} ms dwell from the pixel clock\n"
                 f"frame {frame.capture_s:.2f} s; (counts − truth)/σ: mean {z.mean():+.3f}, sd {z.std():.3f}",
                 fontsize=8)
    ax.legend(loc="upper right", fontsize=7)
    fig.tight_layout()
    out.mkdir(parents=True, exist_ok=True)
    fig.savefig(out / "confocal_image.png")
    plt.close(fig)
    dwell_total = pixels * pixels * dwell_ms * 1e-3
    return {"frame_s": frame.capture_s, "waited_s": waited, "dwell_total_s": dwell_total,
            "after_first_marker_s": waited - frame.metadata["frame_start_after_first_marker_s"],
            "z_mean": z.mean(), "z_sd": z.std()}


def rabi(out: Path, sweeps: int) -> dict:
    sources = pulsed_scene(n_steps=40, tau_step_ps=20_000, rabi_period_ps=300_000, dead_time_ps=0.0)
    seq = sources[0]
    with open_tagger("sim:pulsed", sim_sources=sources) as h:
        run = imaging.PulsedRun(h, imaging.make_settings("pulsed", n_steps=40, sweeps=sweeps, time_bin_ps=10_000,
                                                         n_time_bins=350, readout_window_ps=300_000))
        p = run.acquire()
        signal, sigma = run.readout(p)
        run.close()
    expected = seq.expected_counts(300_000)
    chi2 = float((((signal - expected) / sigma) ** 2).sum())

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    tau_ns = seq.tau_ps() / 1e3
    fig, (ax, ax2) = plt.subplots(2, 1, figsize=(7, 6), dpi=110, gridspec_kw={"height_ratios": [2, 1.3]})
    ax.errorbar(tau_ns, signal, sigma, fmt="o", ms=3, capsize=2, label=f"measured ({p.sweeps} sweeps)")
    ax.plot(tau_ns, expected, "-", color="tab:red", lw=1, label="simulated spin's expectation")
    ax.set_xlabel("microwave pulse τ (ns)")
    ax.set_ylabel("counts per sweep, first 300 ns")
    ax.set_title(f"simulated Rabi oscillation from TimeDifferences, χ² = {chi2:.1f} for {len(signal)} steps; "
                 f"{p.capture_s:.2f} s", fontsize=8)
    ax.legend(fontsize=7)
    t_ns = np.arange(350) * 10.0
    for k in (0, int(np.argmax(seq.population()))):
        ax2.plot(t_ns, p.histograms[k], drawstyle="steps-post", lw=0.8, label=f"step {k} (τ = {tau_ns[k]:.0f} ns)")
    ax2.axvspan(0, 300, color="0.9", label="readout window")
    ax2.set_xlabel("time after the laser's start (ns)")
    ax2.set_ylabel("counts / 10 ns")
    ax2.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "rabi.png")
    plt.close(fig)
    return {"chi2": chi2, "steps": len(signal), "sweeps": p.sweeps, "elapsed_s": p.capture_s}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="demo image", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="out", help="folder for the PNGs (default: out)")
    p.add_argument("--pixels", type=int, default=100, help="pixels per line and lines (default 100)")
    p.add_argument("--dwell-ms", type=float, default=1.0, help="dwell per pixel, ms (default 1)")
    p.add_argument("--sweeps", type=int, default=20000, help="sweeps of the Rabi sequence (default 20000)")
    args = p.parse_args(argv)
    if args.pixels < 2 or args.dwell_ms <= 0.001 or args.sweeps < 1:
        p.error("--pixels must be >= 2, --dwell-ms > 0.001, --sweeps >= 1")
    out = Path(args.out)
    img = confocal(out, args.pixels, args.dwell_ms)
    print(f"image: {args.pixels} x {args.pixels} pixels at {args.dwell_ms:g} ms: frame of {img['frame_s']:.3f} s "
          f"({img['dwell_total_s']:.3f} s of dwell), returned {img['after_first_marker_s']:.3f} s after its first "
          f"marker ({img['waited_s']:.3f} s after the acquisition began); "
          f"counts vs truth: z mean {img['z_mean']:+.3f}, sd {img['z_sd']:.3f} -> {out / 'confocal_image.png'}")
    r = rabi(out, args.sweeps)
    print(f"rabi : {r['steps']} steps x {r['sweeps']} sweeps in {r['elapsed_s']:.2f} s, chi2 {r['chi2']:.1f} "
          f"-> {out / 'rabi.png'}")
    return 0
