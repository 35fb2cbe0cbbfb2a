"""Recording and replay of the raw time tags (src/pymodaq_plugins_timetagger/recording/), hooked into run.py.

Recording: one 1 s window of the simulator at 2 x 10 Mcps (Poisson, Time Tagger Ultra, virtual clock), drained
every 50 ms of stream time as ``Run.acquire`` drains it, through the real Recorder (writer thread, bounded
queue) into a Photon-HDF5 file. The writer's own time (h5py appends and close) gives the rate it sustains; the
generation of the tags by the simulator is not counted (on hardware the device makes them). Lost tags must be
0; the file's size per tag uncompressed, and with the recorder's lzf and gzip options.

Replay: the recorded second through Countrate + Correlation (1001 bins of 1 ns) as fast as possible
(``file:PATH``), on the numba kernels: tags per second of wall time (reading the file counted apart).
"""
from __future__ import annotations

import os
import shutil
import tempfile
import time

from pymodaq_plugins_timetagger.hardware import simulator as TT
from pymodaq_plugins_timetagger.hardware.access import open_tagger
from pymodaq_plugins_timetagger.hardware.simulator import PoissonSource, kernels
from pymodaq_plugins_timetagger.recording.photon_hdf5 import PhotonHDF5Writer, read_recording
from pymodaq_plugins_timetagger.recording.recorder import Recorder
from pymodaq_plugins_timetagger.runs import make_settings

RATE_HZ = 10e6
DRAIN_PS = 50_000_000_000          # Run.acquire drains every runs.ABORT_POLL_S = 50 ms
PS_PER_S = 10 ** 12


class _TimedWriter(PhotonHDF5Writer):
    busy_s = 0.0

    def append(self, timestamps, channels):
        t = time.perf_counter()
        super().append(timestamps, channels)
        type(self).busy_s += time.perf_counter() - t

    def close(self, *args):
        t = time.perf_counter()
        try:
            return super().close(*args)
        finally:
            type(self).busy_s += time.perf_counter() - t


def record_one_second(directory: str, compression=None, seconds: float = 1.0) -> dict:
    _TimedWriter.busy_s = 0.0
    recorder = Recorder(directory, f"bench-{compression}", compression=compression, writer=_TimedWriter)
    sources = [PoissonSource(channels=(1, 2), rate_hz=RATE_HZ)]
    with open_tagger("sim", sim_clock="virtual", sim_seed=7, sim_sources=sources) as h:
        settings = make_settings("correlation", channel_1=1, channel_2=2, integration_s=seconds)
        win = recorder.window(h, "correlation", settings)
        duration = int(seconds * PS_PER_S)
        win.start(duration)
        for _ in range(int(duration // DRAIN_PS)):
            h.tagger.sim_advance(DRAIN_PS)
            win.drain()
        md = win.finish(duration)
    assert recorder.close(timeout_s=600), "the writer did not finish"
    size = os.path.getsize(md["recording_file"])
    return {"compression": compression or "none", "tags": md["recording_tags"], "lost": md["recording_tags_lost"],
            "writer_s": _TimedWriter.busy_s, "rate_mtags_s": md["recording_tags"] / _TimedWriter.busy_s / 1e6,
            "bytes_per_tag": size / max(1, md["recording_tags"]), "file": md["recording_file"],
            "error": recorder.error}


def replay(path: str) -> dict:
    t = time.perf_counter()
    rec = read_recording(path)
    read_s = time.perf_counter() - t
    from pymodaq_plugins_timetagger.hardware.simulator.replay import ReplayTimeTagger
    tagger = ReplayTimeTagger(rec, clock="virtual")
    try:
        rate = TT.Countrate(tagger, [1, 2])
        corr = TT.Correlation(tagger, 1, 2, binwidth=1000, n_bins=1001)
        duration = rec.window_stop_ps - rec.window_start_ps
        t = time.perf_counter()
        rate.startFor(duration)
        corr.startFor(duration)
        corr.waitUntilFinished()
        wall = time.perf_counter() - t
        assert int(rate.getCountsTotal().sum()) == rec.n_tags
    finally:
        tagger._close()
    return {"tags": rec.n_tags, "read_s": read_s, "replay_s": wall, "rate_mtags_s": rec.n_tags / wall / 1e6,
            "kernels": kernels.backend()}


def section(args, report) -> None:
    seconds = 0.25 if args.quick else 1.0
    tmp = tempfile.mkdtemp(prefix="tt-rec-bench-")
    try:
        rows = [record_one_second(tmp, c, seconds) for c in (None, "lzf", "gzip")]
        if kernels.numba_available():
            kernels.set_backend("numba")
        rep = replay(rows[0]["file"])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"\n## Recording ({seconds:g} s at 2 x 10 Mcps, simulator) and replay\n")
    print("| compression | tags | lost | writer time (s) | writer rate (M tags/s) | bytes per tag |\n"
          "|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['compression']} | {r['tags']} | {r['lost']} | {r['writer_s']:.3f} | {r['rate_mtags_s']:.1f} "
              f"| {r['bytes_per_tag']:.2f} |")
    print(f"\nReplay through Countrate + Correlation ({rep['kernels']} kernels): {rep['tags']} tags in "
          f"{rep['replay_s']:.3f} s = {rep['rate_mtags_s']:.1f} M tags/s (reading the file: {rep['read_s']:.3f} s)")
    plain = rows[0]
    report["recording"] = {"rows": [{k: v for k, v in r.items() if k != "file"} for r in rows], "replay": rep}
    report.setdefault("targets", []).extend([
        ("recording sustains 2 x 10 Mcps with no tag lost (writer >= 20 M tags/s, lost 0)",
         plain["rate_mtags_s"] >= 20 and plain["lost"] == 0 and plain["error"] is None,
         f"{plain['rate_mtags_s']:.1f} M tags/s, {plain['lost']} lost"),
        ("recording file <= 9 bytes per tag before compression", plain["bytes_per_tag"] <= 9,
         f"{plain['bytes_per_tag']:.3f} B/tag (lzf {rows[1]['bytes_per_tag']:.2f}, "
         f"gzip {rows[2]['bytes_per_tag']:.2f})"),
        ("replay through Correlation + Countrate >= 20 M tags/s (numba kernels)",
         rep["rate_mtags_s"] >= 20 and rep["kernels"] == "numba", f"{rep['rate_mtags_s']:.1f} M tags/s"),
    ])
