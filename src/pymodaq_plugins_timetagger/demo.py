"""The main job on any machine: measure the simulated bench and show what a Time Tagger user looks at.

    python -m pymodaq_plugins_timetagger.demo [--address sim] [--out out] [--integration 2]

Opens the tagger (the simulator by default: a single emitter on an HBT set-up on inputs 1-2, pulsed
fluorescence on 3-4, Poisson light on 5), prints the count rates, measures g2(τ) of inputs 1 and 2
and prints its summary (g2(0), antibunching or not), then writes a PNG of g2(τ). Runs headless.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import numpy as np

from .hardware.access import open_tagger
from .runs import CorrelationSettings, CountrateSettings, make_run


def plot_g2(tau_s: np.ndarray, g2: np.ndarray, title: str, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    ax.plot(tau_s * 1e9, g2, drawstyle="steps-mid", lw=1.0, color="tab:blue")
    ax.axhline(1.0, color="0.6", lw=0.8, ls="--")
    ax.axhline(0.5, color="tab:red", lw=0.8, ls=":", label="single-emitter limit g2(0) = 0.5")
    ax.set_xlabel("delay τ = t(ch1) − t(ch2) (ns)")
    ax.set_ylabel("g2(τ)")
    ax.set_title(title, fontsize=10)
    ax.set_ylim(bottom=0)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--address", default="sim", help="tagger address (default: sim)")
    p.add_argument("--out", default="out", help="folder for the PNG (default: out)")
    p.add_argument("--integration", type=float, default=2.0, help="g2 integration time, s (default 2)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    with open_tagger(args.address) as handle:
        print(f"Time Tagger: {handle.description}")
        rates = make_run(handle, "countrate", CountrateSettings(channels=(1, 2, 3, 4, 5), integration_s=0.5))
        res = rates.acquire()
        print(f"\nCount rates over {res.metadata['capture_duration_s']:.3f} s "
              f"(overflows: {res.metadata['overflows']}):")
        for label, value in zip(res.labels, res.data):
            print(f"  {label:>4}: {value[0] / 1e3:10.2f} kHz")
        rates.close()

        corr = make_run(handle, "correlation", CorrelationSettings(
            channel_1=1, channel_2=2, binwidth_ps=500, n_bins=201, normalize=True,
            zero_window_ps=500, integration_s=args.integration))
        res = corr.acquire()
        corr.close()
        g2 = res.data[0]
        tau = res.axis.values
        g2_0 = res.companions[0].data[0][0]
        total = res.metadata["total_coincidences"]
        far = np.abs(tau) > 40e-9
        print(f"\ng2(tau) of ch1 (stop) vs ch2 (start), {res.metadata['capture_duration_s']:.2f} s, "
              f"500 ps bins, {total} coincidences:")
        print(f"  g2(0)            = {g2_0:.3f}")
        print(f"  g2(|tau| > 40ns) = {np.nanmean(g2[far]):.3f}  (uncorrelated level, expected 1)")
        verdict = "single emitter (g2(0) < 0.5)" if g2_0 < 0.5 else "not a single emitter (g2(0) >= 0.5)"
        print(f"  verdict          : {verdict}")
        png = Path(args.out) / "g2.png"
        plot_g2(tau, g2, f"{handle.description}\ng2(0) = {g2_0:.3f}, {res.metadata['capture_duration_s']:.1f} s",
                png)
        print(f"\nwrote {png.resolve()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
