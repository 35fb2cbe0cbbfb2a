"""One acquisition window's time tags as a Photon-HDF5 file (photon-hdf5.org, format 0.5), written and read.

The file is written incrementally with h5py (a window of any length never sits in memory) and follows the
Photon-HDF5 specification as phconvert holds it: every field of the spec used here carries the spec's own
description as its ``TITLE`` attribute (phconvert's ``specs/photon-hdf5_specs.json``, the source of
``phconvert.hdf5.official_fields_specs``), the root carries ``format_name``, ``format_version`` and
``format_url`` (``phconvert.metadata.root_attributes``), strings are fixed-length bytes, and
``phconvert.hdf5.assert_valid_photon_hdf5`` accepts the file (tests/test_recording.py).

Layout (what the reader relies on):

* ``/photon_data/timestamps``: int64, the Time Tagger's stream time of each tag;
* ``/photon_data/timestamps_specs/timestamps_unit``: 1e-12 (ps);
* ``/photon_data/detectors``: uint8, the pixel ID: index into ``/setup/detectors/id_hardware``;
* ``/setup/detectors/id_hardware``: the Time Tagger channel numbers (negative: falling edge);
* ``/user/timetagger/...``: the window (start, stop), the tags lost (device overflows and the recorder's own
  gaps: intervals and counts per channel), the inputs' settings, the device, the tagger's configuration.

Timestamps plus detectors cost 9 bytes per tag before compression.
"""
from __future__ import annotations

import datetime as _dt
import functools
import importlib.util
import json
import os
from dataclasses import dataclass, field

import numpy as np

from .. import __version__

#: Photon-HDF5 stores times in these units; the Time Tagger's are ps
TIMESTAMPS_UNIT_S = 1e-12
#: where this package's own fields live (the spec reserves /user for them)
USER = "/user/timetagger"
#: tags per HDF5 chunk of the growing arrays
CHUNK_TAGS = 1 << 14
#: the channel numbers a pixel ID (uint8) can name (255 marks a channel not recorded)
MAX_CHANNELS = 255
NO_PIXEL = 255
#: the recorder's own compression choices (h5py filters); None writes 9 bytes per tag
COMPRESSIONS = (None, "lzf", "gzip")


#: the root attributes of a Photon-HDF5 0.5 file (photon-hdf5.org; phconvert.metadata.root_attributes)
ROOT_ATTRIBUTES = {"format_name": b"Photon-HDF5", "format_version": b"0.5",
                   "format_url": b"http://photon-hdf5.org/"}
#: phconvert's copy of the specification: every field's description (its TITLE) and type
SPEC_FILE = ("specs", "photon-hdf5_specs.json")


@functools.lru_cache(maxsize=1)
def _spec() -> dict:
    """The field descriptions of the specification, read from phconvert's data file (importing phconvert
    itself takes seconds: it compiles its readers)."""
    found = importlib.util.find_spec("phconvert")
    if found is None or not found.submodule_search_locations:
        raise ImportError("recording time tags needs phconvert, which holds the Photon-HDF5 specification "
                          "(pip install \"pymodaq_plugins_timetagger[record]\")")
    path = os.path.join(list(found.submodule_search_locations)[0], *SPEC_FILE)
    with open(path, encoding="utf-8") as f:
        return json.load(f)


@dataclass
class WindowInfo:
    """What is known of a window when its file is opened."""

    channels: tuple[int, ...]
    device: str
    model: str
    serial: str
    simulated: bool
    window_start_ps: int
    start_utc: str
    inputs: dict = field(default_factory=dict)        # channel -> {trigger_level_v, input_delay_ps, ...}
    configuration: str = ""                           # the tagger's getConfiguration(), as JSON text
    measurement: dict = field(default_factory=dict)   # the plugin's measurement settings


@dataclass
class LostTags:
    """Intervals [begin, end) ps with tags lost, and how many per channel (-1: not known)."""

    begin_ps: list = field(default_factory=list)
    end_ps: list = field(default_factory=list)
    missed: list = field(default_factory=list)        # one row per interval: a count per channel

    def add(self, begin: int, end: int, missed) -> None:
        self.begin_ps.append(int(begin))
        self.end_ps.append(int(end))
        self.missed.append([int(m) for m in missed])

    @property
    def total(self) -> int:
        return int(sum(m for row in self.missed for m in row if m > 0))

    @property
    def unknown(self) -> bool:
        return any(m < 0 for row in self.missed for m in row)


class PhotonHDF5Writer:
    """Write one window: :meth:`append` the tags as they come, :meth:`close` with the window's end.

    Any OSError (a full disk, a lost drive) propagates: the recorder stops recording on it.
    """

    def __init__(self, path: str, info: WindowInfo, compression: str | None = None):
        import h5py
        if compression not in COMPRESSIONS:
            raise ValueError(f"compression must be one of {COMPRESSIONS}, got {compression!r}")
        if len(info.channels) > MAX_CHANNELS:
            raise ValueError(f"at most {MAX_CHANNELS} channels per recording, got {len(info.channels)}")
        self.path = path
        self.info = info
        self._pixel = {c: i for i, c in enumerate(info.channels)}
        # pixel ID of each channel number from the lowest: one table lookup per tag
        self._lowest = min(info.channels)
        self._pixel_lut = np.full(max(info.channels) - self._lowest + 1, NO_PIXEL, dtype=np.uint8)
        for c, i in self._pixel.items():
            self._pixel_lut[c - self._lowest] = i
        self.counts = np.zeros(len(info.channels), dtype=np.int64)
        self._specs = _spec()
        self._f = h5py.File(path, "x")
        try:
            for k, v in ROOT_ATTRIBUTES.items():
                self._f.attrs[k] = v
            self._f.attrs["TITLE"] = _fixed(self._title("/"))
            opts = dict(chunks=(CHUNK_TAGS,), maxshape=(None,), compression=compression)
            if compression is not None:
                opts["shuffle"] = True
            self._ts = self._f.create_dataset("photon_data/timestamps", (0,), dtype=np.int64, **opts)
            self._det = self._f.create_dataset("photon_data/detectors", (0,), dtype=np.uint8, **opts)
            for d in (self._ts, self._det):
                d.attrs["TITLE"] = _fixed(self._title(d.name))
            self._write_start()
        except BaseException:
            self._f.close()
            raise

    def append(self, timestamps: np.ndarray, channels: np.ndarray) -> None:
        """Add tags (time order, int64 ps) of the given channels (signed Time Tagger channel numbers)."""
        n = timestamps.size
        if n == 0:
            return
        idx = channels - self._lowest
        if idx.min() < 0 or idx.max() >= self._pixel_lut.size:
            raise ValueError("tags of a channel the recording was not opened for")
        pixels = self._pixel_lut[idx]
        counts = np.bincount(pixels, minlength=NO_PIXEL + 1)  # one pass: the counts, and the check
        if counts[NO_PIXEL]:
            raise ValueError("tags of a channel the recording was not opened for")
        old = self._ts.shape[0]
        self._ts.resize((old + n,))
        self._det.resize((old + n,))
        self._ts[old:] = timestamps
        self._det[old:] = pixels
        self.counts += counts[:len(self._pixel)]

    def close(self, window_stop_ps: int, overflows: LostTags, recorder_gaps: LostTags) -> int:
        """Write the window's end and the tags lost, close; returns the number of tags in the file."""
        try:
            f = self._f
            dur = (window_stop_ps - self.info.window_start_ps) * TIMESTAMPS_UNIT_S
            self._scalar("/acquisition_duration", float(dur))
            self._scalar("/setup/detectors/counts", self.counts)
            u = f[USER]
            u["window_stop_ps"] = np.int64(window_stop_ps)
            for name, lost in (("overflow", overflows), ("recorder_gap", recorder_gaps)):
                g = u.create_group(name)
                g["begin_ps"] = np.asarray(lost.begin_ps, dtype=np.int64)
                g["end_ps"] = np.asarray(lost.end_ps, dtype=np.int64)
                g["missed_events"] = np.asarray(lost.missed, dtype=np.int64).reshape(-1, len(self._pixel))
            u["complete"] = True   # written last: a file cut short by a failure has no 'complete'
            return int(self._ts.shape[0])
        finally:
            self._f.close()

    def abandon(self) -> None:
        """Close after a failure (the file stays incomplete: no 'complete' field, readers refuse it)."""
        self._ts = self._det = None  # the datasets go first: HDF5 closes the file once nothing refers to it
        try:
            self._f.close()
        except Exception:  # noqa: BLE001 (already failing: the first error is the one reported)
            pass

    # --------------------------------------------------------------------------------------------------
    def _write_start(self) -> None:
        i = self.info
        n = len(i.channels)
        created = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        self._scalar("/description", f"Time tags of channels {', '.join(map(str, i.channels))} of the {i.device}, "
                                     f"one acquisition window from {i.start_utc}, recorded by "
                                     f"pymodaq_plugins_timetagger {__version__}")
        self._scalar("/photon_data/timestamps_specs/timestamps_unit", TIMESTAMPS_UNIT_S)
        for k, v in (("num_pixels", n), ("num_spots", 1), ("num_spectral_ch", 1), ("num_polarization_ch", 1),
                     ("num_split_ch", 1), ("modulated_excitation", False), ("lifetime", False)):
            self._scalar(f"/setup/{k}", v)
        self._scalar("/setup/excitation_alternated", np.array([False]))
        self._scalar("/setup/detectors/id", np.arange(n, dtype=np.uint8))
        self._scalar("/setup/detectors/id_hardware", np.asarray(i.channels, dtype=np.int32))
        self._scalar("/setup/detectors/label", np.array([f"ch{c}" if c > 0 else f"ch{-c} falling"
                                                         for c in i.channels], dtype="S"))
        name = os.path.basename(self.path)
        for k, v in (("filename", name), ("filename_full", os.path.abspath(self.path)), ("creation_time", created),
                     ("software", "pymodaq_plugins_timetagger"), ("software_version", __version__)):
            self._scalar(f"/identity/{k}", v)
        root = dict(self._f.attrs)
        for k in ("format_name", "format_version", "format_url"):
            self._scalar(f"/identity/{k}", root[k])
        self._scalar("/provenance/software", "Swabian Time Tagger TimeTagStream" if not i.simulated
                     else "pymodaq_plugins_timetagger simulator TimeTagStream")
        self._scalar("/provenance/creation_time", i.start_utc)
        u = self._f.require_group(USER)
        u["window_start_ps"] = np.int64(i.window_start_ps)
        u["window_start_utc"] = _fixed(i.start_utc)
        for k in ("device", "model", "serial"):
            u[k] = _fixed(getattr(i, k))
        u["simulated"] = bool(i.simulated)
        u["configuration"] = _fixed(i.configuration or "{}")
        u["measurement"] = _fixed(json.dumps(i.measurement))
        u["inputs"] = _fixed(json.dumps({str(c): v for c, v in i.inputs.items()}))

    def _title(self, path: str) -> str:
        multi = "/photon_data?N" + path[len("/photon_data"):] if path.startswith("/photon_data") else path
        for key in (path, multi, multi.lstrip("/")):
            if key in self._specs:
                return self._specs[key][0]
        raise KeyError(f"{path} is not a Photon-HDF5 field")

    def _scalar(self, path: str, value) -> None:
        if path in self._f:
            del self._f[path]
        self._f[path] = _fixed(value)
        self._f[path].attrs["TITLE"] = _fixed(self._title(path))
        if isinstance(value, str):  # read back as a string, not an array, by PyTables (phconvert's reader)
            self._f[path].attrs["FLAVOR"] = np.bytes_(b"python")
        parent = path.rsplit("/", 1)[0]
        while parent:
            g = self._f[parent]
            if "TITLE" not in g.attrs:
                g.attrs["TITLE"] = _fixed(self._title(parent))
            parent = parent.rsplit("/", 1)[0]


def _fixed(value):
    """Strings as fixed-length UTF-8 bytes: Photon-HDF5 readers (PyTables) refuse variable-length strings."""
    return np.bytes_(value.encode()) if isinstance(value, str) else value


# ------------------------------------------------------------------------------------------------ reading
@dataclass
class Recording:
    """A recorded window, read back: tags per channel (ps, sorted), the window, what was lost."""

    path: str
    channels: tuple[int, ...]
    tags: dict                 # channel -> int64 array
    window_start_ps: int
    window_stop_ps: int
    start_utc: str
    device: str
    model: str
    serial: str
    simulated: bool
    inputs: dict
    measurement: dict
    overflows: LostTags
    recorder_gaps: LostTags

    @property
    def n_tags(self) -> int:
        return int(sum(t.size for t in self.tags.values()))

    @property
    def tags_lost(self) -> int:
        return self.overflows.total + self.recorder_gaps.total


def _text(v) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def read_recording(path: str) -> Recording:
    """Read a window recorded by :class:`PhotonHDF5Writer`; ValueError naming what is wrong otherwise."""
    import h5py
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise ValueError(f"{path}: not a readable HDF5 file ({e})") from None
    with f:
        if USER not in f or "photon_data/timestamps" not in f:
            raise ValueError(f"{path}: not a Time Tagger recording of this package (no {USER})")
        u = f[USER]
        if "complete" not in u:
            raise ValueError(f"{path}: the recording is incomplete (its writing was interrupted)")
        unit = float(f["photon_data/timestamps_specs/timestamps_unit"][()])
        if unit != TIMESTAMPS_UNIT_S:
            raise ValueError(f"{path}: timestamps_unit {unit} s, expected {TIMESTAMPS_UNIT_S}")
        channels = tuple(int(c) for c in f["setup/detectors/id_hardware"][()])
        ts = f["photon_data/timestamps"][()]
        det = f["photon_data/detectors"][()]
        tags = {c: ts[det == i] for i, c in enumerate(channels)}
        lost = {}
        for name in ("overflow", "recorder_gap"):
            g = u[name]
            lt = LostTags()
            for b, e, m in zip(g["begin_ps"][()], g["end_ps"][()], g["missed_events"][()]):
                lt.add(b, e, m)
            lost[name] = lt
        return Recording(path, channels, tags, int(u["window_start_ps"][()]), int(u["window_stop_ps"][()]),
                         _text(u["window_start_utc"][()]), _text(u["device"][()]), _text(u["model"][()]),
                         _text(u["serial"][()]), bool(u["simulated"][()]),
                         {int(k): v for k, v in json.loads(_text(u["inputs"][()])).items()},
                         json.loads(_text(u["measurement"][()])), lost["overflow"], lost["recorder_gap"])
