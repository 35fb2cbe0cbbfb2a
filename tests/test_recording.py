"""Recording the tags of each window (Photon-HDF5), replaying them (file:PATH), and equal results by construction."""
import errno
import threading
import time
import warnings

import numpy as np
import pytest

from pymodaq_plugins_timetagger.hardware.access import open_tagger
from pymodaq_plugins_timetagger.hardware.address import parse_address
from pymodaq_plugins_timetagger.hardware.errors import AddressError, TaggerError, TaggerOpenError
from pymodaq_plugins_timetagger.hardware.simulator import PoissonSource, default_scene
from pymodaq_plugins_timetagger.recording.photon_hdf5 import PhotonHDF5Writer, read_recording
from pymodaq_plugins_timetagger.recording.recorder import Recorder
from pymodaq_plugins_timetagger.runs import make_run

SETTINGS = {
    "countrate": dict(channels=(1, 2, 4, 5), integration_s=0.02),
    "correlation": dict(channel_1=1, channel_2=2, binwidth_ps=500, n_bins=201, integration_s=0.02),
    "counter": dict(channels=(1, 5), binwidth_ps=1_000_000_000, n_values=30, integration_s=0.02),
    "histogram": dict(click_channel=4, start_channel=3, binwidth_ps=50, n_bins=400, integration_s=0.02),
}


def _live(tmp_path, kind, settings, sources=None, address="sim", windows=1, **recorder_kw):
    recorder = Recorder(str(tmp_path), kind, **recorder_kw)
    with open_tagger(address, sim_clock="virtual", sim_seed=11, sim_sources=sources) as h:
        run = make_run(h, kind, **settings)
        run.recorder = recorder
        results = [run.acquire() for _ in range(windows)]
        run.close()
    assert recorder.close()
    return results, recorder


def _replayed(path, kind, settings):
    with open_tagger(f"file:{path}") as h:
        run = make_run(h, kind, **settings)
        res = run.acquire()
        run.close()
        return res, h.description


def _same(a, b):
    for da, db in zip(a.data + [d for c in a.companions for d in c.data],
                      b.data + [d for c in b.companions for d in c.data]):
        np.testing.assert_array_equal(da, db)   # bit for bit, NaN where NaN
    for key in ("capture_duration_s", "overflows"):
        assert a.metadata[key] == b.metadata[key], key


@pytest.mark.parametrize("kind", SETTINGS)
def test_a_window_replayed_gives_the_live_result_exactly(tmp_path, kind):
    (live,), _ = _live(tmp_path, kind, SETTINGS[kind])
    md = live.metadata
    assert md["recording_tags"] > 0 and md["recording_tags_lost"] == 0 and md["recording_index"] == 0
    replay, device = _replayed(md["recording_file"], kind, SETTINGS[kind])
    _same(live, replay)
    assert device.startswith("REPLAY of Time Tagger Ultra serial SIM-ULTRA-0001 recorded 20")


@pytest.mark.parametrize("kind", ["countrate", "correlation"])
def test_overflows_at_the_recording_replay_as_lost_intervals(tmp_path, kind):
    """3 x 4 Mcps on a Time Tagger 20 (~8.5 Mtags/s): overflows; the replay knows where tags were lost."""
    settings = dict(SETTINGS[kind])
    settings.update(channels=(1, 2, 3)) if kind == "countrate" else settings.update(binwidth_ps=1000)
    sources = [PoissonSource(channels=(1, 2, 3), rate_hz=4e6)]
    if kind == "correlation":   # the third channel is recorded too, so that the stream overflows
        sources = [PoissonSource(channels=(1, 2), rate_hz=6e6)]
    (live,), _ = _live(tmp_path, kind, settings, sources=sources, address="sim:tt20")
    md = live.metadata
    assert md["overflows"] > 0 and md["recording_tags_lost"] > 0
    rec = read_recording(md["recording_file"])
    assert len(rec.overflows.begin_ps) == md["overflows"] and rec.tags_lost == md["recording_tags_lost"]
    replay, _ = _replayed(md["recording_file"], kind, settings)
    _same(live, replay)
    if kind == "correlation":
        assert np.nanmean(replay.data[0]) == pytest.approx(1.0, abs=0.05)  # lost time left out of g2 there too


def test_each_step_finds_its_file_and_the_files_are_photon_hdf5(tmp_path):
    phconvert = pytest.importorskip("phconvert")
    tttrlib = pytest.importorskip("tttrlib")
    results, recorder = _live(tmp_path, "countrate", SETTINGS["countrate"], windows=3)
    paths = [r.metadata["recording_file"] for r in results]
    assert [r.metadata["recording_index"] for r in results] == [0, 1, 2]
    assert [p.rsplit("/", 1)[1][:6] for p in paths] == ["000000", "000001", "000002"]
    assert recorder.files_written == 3 and recorder.error is None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # optional fields the spec recommends (author, wavelengths)
        phconvert.hdf5.assert_valid_photon_hdf5(paths[1])
        h5 = phconvert.hdf5.load_photon_hdf5(paths[1])
    try:
        ts = h5.root.photon_data.timestamps.read()
        hw = h5.root.setup.detectors.id_hardware.read()
        assert float(h5.root.photon_data.timestamps_specs.timestamps_unit.read()) == 1e-12
        assert hw.tolist() == [1, 2, 4, 5]
        counts = np.bincount(h5.root.photon_data.detectors.read(), minlength=4)
    finally:
        h5.close()
    assert counts.tolist() == results[1].metadata["counts"] and ts.size == results[1].metadata["recording_tags"]
    t = tttrlib.TTTR(paths[1], "PHOTON-HDF5")
    assert np.array_equal(np.asarray(t.macro_times, dtype=np.int64), ts)
    assert np.bincount(np.asarray(t.routing_channels), minlength=4).tolist() == counts.tolist()


class _BlockedWriter(PhotonHDF5Writer):
    """A disk that does not keep up: appends wait until the test lets them go."""

    gate = threading.Event()

    def append(self, timestamps, channels):
        assert self.gate.wait(60)
        super().append(timestamps, channels)


def test_a_slow_disk_loses_counted_tags_never_silently(tmp_path):
    """The writer hangs on the first window's tags; the queue (room for one window) refuses the second's."""
    _BlockedWriter.gate.clear()
    recorder = Recorder(str(tmp_path), "slow", max_queue_bytes=9 * 60_000, writer=_BlockedWriter)
    with open_tagger("sim", sim_clock="virtual", sim_seed=5) as h:
        run = make_run(h, "countrate", channels=(1, 2, 5), integration_s=0.05)   # ~42 k tags a window
        run.recorder = recorder
        first, second = run.acquire(), run.acquire()
        _BlockedWriter.gate.set()
        run.close()
    assert recorder.close()
    assert first.metadata["recording_tags_lost"] == 0
    md = second.metadata
    assert md["recording_tags_lost"] == sum(md["counts"]) > 0 and md["recording_tags"] == 0
    rec = read_recording(md["recording_file"])
    assert rec.n_tags == 0 and rec.recorder_gaps.total == md["recording_tags_lost"]
    assert rec.recorder_gaps.missed[0] == md["counts"]
    replay, _ = _replayed(md["recording_file"], "countrate", dict(channels=(1, 2, 5), integration_s=0.05))
    assert replay.metadata["overflows"] == len(rec.recorder_gaps.begin_ps) > 0   # the replay says so
    assert read_recording(first.metadata["recording_file"]).n_tags == sum(first.metadata["counts"])


class _FullDisk(PhotonHDF5Writer):
    """The writer's seam: appending fails as on a full disk (ENOSPC)."""

    def append(self, timestamps, channels):
        raise OSError(errno.ENOSPC, "No space left on device")


def test_a_full_disk_stops_the_recording_and_not_the_acquisition(tmp_path):
    recorder = Recorder(str(tmp_path), "full", writer=_FullDisk)
    with open_tagger("sim", sim_clock="virtual", sim_seed=5) as h:
        run = make_run(h, "countrate", channels=(1, 2), integration_s=0.02)
        run.recorder = recorder
        first = run.acquire()
        deadline = time.monotonic() + 60
        while recorder.error is None and time.monotonic() < deadline:   # the writer thread meets the error
            time.sleep(0.01)
        later = run.acquire()   # the acquisition goes on
        run.close()
    recorder.close()
    assert "No space left on device" in recorder.error and first.metadata["recording_file"] in recorder.error
    assert later.data[0][0] > 0 and "No space left" in later.metadata.get("recording_error", "")
    with pytest.raises(ValueError, match="incomplete"):
        read_recording(first.metadata["recording_file"])


def test_replay_refuses_what_was_not_recorded(tmp_path):
    (live,), _ = _live(tmp_path, "countrate", dict(channels=(1, 2), integration_s=0.01))
    path = live.metadata["recording_file"]
    with open_tagger(f"file:{path}") as h:
        with pytest.raises(TaggerError, match="channel 5 was not recorded"):
            make_run(h, "countrate", channels=(1, 5), integration_s=0.01)
        run = make_run(h, "countrate", channels=(1, 2), integration_s=0.02)   # longer than the recording
        with pytest.raises(TaggerError, match="the recording ends 0.01 s after its start"):
            run.acquire()
        with pytest.raises(RuntimeError, match="cannot be changed in a replay"):
            h.tagger.setTriggerLevel(1, 0.2)
        assert h.tagger.getDeadtime(1) == default_scene_deadtime()
    with pytest.raises(TaggerOpenError, match="not a readable HDF5 file"):
        open_tagger(f"file:{tmp_path / 'nothing.h5'}")
    with pytest.raises(AddressError, match="no recording after 'file:'"):
        parse_address("file:")
    assert parse_address("file:paced:/x.h5").paced and not parse_address("file:/x.h5").paced


def default_scene_deadtime():
    with open_tagger("sim", sim_clock="virtual", sim_sources=default_scene()) as h:
        return h.tagger.getDeadtime(1)


def test_the_headless_client_records_where_the_tags_are_taken(tmp_path):
    """The bridge client's service records beside the tagger; the file's name travels in the data (metadata and
    the 0D dataset 'recording'), which is what crosses the bridge."""
    from pymodaq_plugins_timetagger.bridge.service import MeasurementService
    from pymodaq_plugins_timetagger.dataset import result_to_data
    service = MeasurementService("sim", "countrate", sim_options=dict(sim_clock="virtual", sim_seed=3))
    service.record_directory = str(tmp_path)
    service.open()
    try:
        (result,) = service.results(None)
    finally:
        service.close()
        service.close_recordings()
    dte = result_to_data(result)
    main, rec = dte.data[0], next(d for d in dte.data if d.name == "recording")
    assert main.extra["recording_file"].startswith(str(tmp_path))
    assert [float(d[0]) for d in rec.data] == [0.0, float(main.extra["recording_tags"]), 0.0]
    assert read_recording(main.extra["recording_file"]).n_tags == sum(result.metadata["counts"]) > 0


@pytest.fixture
def tiny_filesystem(tmp_path):
    """A 4 MiB tmpfs of our own (root with mount rights only: skipped elsewhere)."""
    import subprocess
    where = tmp_path / "tiny"
    where.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(where)], capture_output=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.decode(errors='replace').strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=True)


def test_a_real_full_filesystem_stops_the_recording_cleanly(tiny_filesystem):
    recorder = Recorder(str(tiny_filesystem), "tiny", min_free_bytes=1 << 20)
    with open_tagger("sim", sim_clock="virtual", sim_seed=3) as h:
        run = make_run(h, "countrate", channels=(1, 2, 5), integration_s=0.05)   # ~0.4 MB a window
        run.recorder = recorder
        results = []
        for _ in range(12):
            results.append(run.acquire())
            if recorder.error is not None and "recording_error" in results[-1].metadata:
                break
            deadline = time.monotonic() + 30
            while recorder._queued_bytes and time.monotonic() < deadline:   # one window at a time on the disk
                time.sleep(0.01)
        run.close()
    assert recorder.close()
    assert "the disk is full" in recorder.error and results[-1].data[0][0] > 0
    assert recorder._queued_bytes == 0   # the queue's account, given up with the recording, is not left negative
    kept = [r.metadata["recording_file"] for r in results if "recording_file" in r.metadata]
    complete = []
    for path in kept:
        try:
            complete.append(read_recording(path).n_tags)
        except ValueError as e:
            assert "incomplete" in str(e)
    assert len(complete) >= 3 and all(n > 0 for n in complete)
