"""Hardware-timed images (a scanner's pixel clock) and pulsed sequences (histograms per step). Qt-free.

:class:`ImageRun` counts the clicks of each photon channel between the scanner's pixel markers with the vendor's
``CountBetweenMarkers`` (one per photon channel, one counting the line markers and one the frame markers between the
same pixel markers), and returns one exact frame: from a frame marker to the next, every line marker where it must
be. A pixel marker missing or extra anywhere in the frame moves a line or frame marker off its place: the frame is
refused with :class:`MarkerError` saying where, never returned with pixels in the wrong place.

:class:`PulsedRun` histograms the clicks after each laser start with the vendor's ``TimeDifferences``, one histogram
per sequence step (next marker), reset at each sequence (sync marker), over one exact window, and gives each step's
counts per sweep in a readout window (the Rabi curve) with its Poisson uncertainty.

Both return the wire's data model (:mod:`.data_model`): the viewer plugins turn it into PyMoDAQ data with
``daq_viewer_plugins.data.to_pymodaq``, like every other measurement. docs/imaging.rst says how it works.
"""
from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass, fields
from typing import Callable

import numpy as np

from .hardware.errors import AcquisitionAborted, MeasurementTimeout, SettingsError, TaggerError
from .hardware.inputs import check_channel
from .hardware.vendor import VENDOR_EXCEPTIONS, vendor_errors
from . import data_model as dm
from .settings import MAX_BINS, MAX_PIXELS, check, default, of_kind

PS_PER_S = 1e12
#: how often a frame in progress is looked at (abort, timeout, the live view's new lines), s
POLL_S = 0.1
#: consecutive pixel widths compared to align two CountBetweenMarkers started at different pixel markers
ALIGN_WINDOW = 8
#: with this many values, a counter that still matches the first-started one at no single offset is an error
ALIGN_SURE = 32


class MarkerError(TaggerError):
    """The markers of a frame are not where the scan's geometry puts them (missing or extra markers)."""


@dataclass(frozen=True)
class ImageSettings:
    photon_channels: tuple[int, ...] = default("image", "photon_channels")
    pixel_channel: int = default("image", "pixel_channel")
    pixel_gated: bool = default("image", "pixel_gated")
    line_channel: int = default("image", "line_channel")
    frame_channel: int = default("image", "frame_channel")
    pixels_per_line: int = default("image", "pixels_per_line")
    lines_per_frame: int = default("image", "lines_per_frame")
    serpentine: bool = default("image", "serpentine")
    output_rate: bool = default("image", "output_rate")
    frame_timeout_s: float = default("image", "frame_timeout_s")

    @property
    def n_pixels(self) -> int:
        return self.pixels_per_line * self.lines_per_frame


@dataclass(frozen=True)
class PulsedSettings:
    readout_channel: int = default("pulsed", "readout_channel")
    laser_channel: int = default("pulsed", "laser_channel")
    step_channel: int = default("pulsed", "step_channel")
    sequence_channel: int = default("pulsed", "sequence_channel")
    n_steps: int = default("pulsed", "n_steps")
    time_bin_ps: int = default("pulsed", "time_bin_ps")
    n_time_bins: int = default("pulsed", "n_time_bins")
    readout_start_ps: int = default("pulsed", "readout_start_ps")
    readout_window_ps: int = default("pulsed", "readout_window_ps")
    sweeps: int = default("pulsed", "sweeps")
    frame_timeout_s: float = default("pulsed", "frame_timeout_s")


SETTINGS_OF = {"image": ImageSettings, "pulsed": PulsedSettings}
assert all({f.name for f in fields(c)} == {s.name for s in of_kind(k)} for k, c in SETTINGS_OF.items())


def make_settings(kind: str, **values):
    """The settings of ``kind`` ('image' or 'pulsed'), every value checked (settings.py); unknown names refused."""
    cls = SETTINGS_OF.get(kind)
    if cls is None:
        raise SettingsError(f"unknown marker-driven measurement {kind!r}; known: {', '.join(SETTINGS_OF)}")
    known = {f.name for f in fields(cls)}
    if set(values) - known:
        raise SettingsError(f"{kind}: unknown setting(s) {', '.join(sorted(set(values) - known))}")
    return _checked(cls(**values), None)


def checked_settings(s, handle):
    """``s`` with every value checked (settings.py) and its channels against the opened device (SettingsError)."""
    return _checked(s, handle)


def _checked(s, handle):
    values = {}
    for f in fields(s):
        v = check(f.name, getattr(s, f.name))
        if handle is not None and f.name.endswith("_channel"):
            v = _device_channel(handle, v, f.name)
        elif handle is not None and f.name.endswith("_channels"):
            v = tuple(_device_channel(handle, c, f.name) for c in v)
        values[f.name] = v
    return type(s)(**values)


def _device_channel(handle, c, what):
    try:
        return check_channel(handle.tagger, c, what)
    except TaggerError as e:
        raise SettingsError(str(e)) from None


class _MarkerRun:
    """What both runs share: settings checked on the device, the vendor objects, abort."""

    kind = ""

    def __init__(self, handle, settings):
        self.handle = handle
        self._settings = self._validate(settings)
        self._abort = threading.Event()
        self._lock = threading.RLock()
        self._meas: list = []
        self._build()

    @property
    def settings(self):
        return self._settings

    #: never a live (accumulating) view: every grab is one frame, or whole sweeps
    accumulating = False

    def stop(self) -> None:
        with self._lock, vendor_errors(self.kind):
            for m in self._meas:
                m.stop()

    def update(self, settings) -> None:
        new = self._validate(settings)
        with self._lock:
            self._destroy()
            self._settings = new
            self._build()

    def abort(self) -> None:
        self._abort.set()

    def close(self) -> None:
        self._abort.set()
        with self._lock:
            self._destroy()

    def _validate(self, settings):
        if not isinstance(settings, SETTINGS_OF[self.kind]):
            raise SettingsError(f"{self.kind}: expected {SETTINGS_OF[self.kind].__name__}, "
                                f"got {type(settings).__name__}")
        s = _checked(settings, self.handle)
        self._check_more(s)
        return s

    def _check_more(self, s) -> None:
        pass

    def _build(self) -> None:
        try:
            with vendor_errors(self.kind):
                self._meas = self._create()
                for m in self._meas:     # vendor measurements start on construction: wait for a grab
                    m.stop()
        except (TaggerError, *VENDOR_EXCEPTIONS) as e:
            self._destroy()
            raise SettingsError(f"{self.kind}: the Time Tagger refused the settings: {e}") from e

    def _destroy(self) -> None:
        for m in self._meas:
            try:
                m.stop()
                m.__exit__(None, None, None)
            except (TaggerError, *VENDOR_EXCEPTIONS):
                pass
        self._meas = []

    def _meta(self) -> dict:
        meta = {"device": self.handle.description, "simulated": bool(self.handle.simulated),
                "measurement": self.kind}
        meta.update({k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self._settings).items()})
        return meta

    def _check_abort(self, stop: threading.Event | None, what: str) -> None:
        if self._abort.is_set() or (stop is not None and stop.is_set()):
            for m in self._meas:
                m.stop()
            raise AcquisitionAborted(f"{self.kind}: {what}")


# ------------------------------------------------------------------------------------------------------- images
@dataclass
class Frame:
    """One frame: per photon channel its counts (lines × pixels, int), the dwell of each pixel (s) from its
    markers, and where and when the frame was taken."""

    counts: list[np.ndarray]
    dwell_s: np.ndarray
    capture_s: float
    metadata: dict


class ImageRun(_MarkerRun):
    """One exact frame per :meth:`acquire`, from the pixel, line and frame markers (see the module docstring)."""

    kind = "image"

    def _check_more(self, s):
        used = [abs(c) for c in s.photon_channels] + [abs(s.pixel_channel), abs(s.line_channel),
                                                       abs(s.frame_channel)]
        if len(set(used)) != len(used):
            raise SettingsError("image: the photon, pixel, line and frame channels must be different inputs")
        if s.n_pixels > MAX_PIXELS:
            raise SettingsError(f"image: {s.n_pixels} pixels per frame, at most {MAX_PIXELS}")

    @property
    def capacity(self) -> int:
        """Values each CountBetweenMarkers holds: up to a frame before the frame's start, the frame, one more."""
        return 2 * self._settings.n_pixels + 1

    def _create(self):
        s, api, t = self._settings, self.handle.api, self.handle.tagger
        end = -s.pixel_channel if s.pixel_gated else api.CHANNEL_UNUSED
        clicks = [*s.photon_channels, s.line_channel, s.frame_channel]
        return [api.CountBetweenMarkers(t, c, s.pixel_channel, end, self.capacity) for c in clicks]

    def acquire(self, timeout_s: float | None = None, stop: threading.Event | None = None,
                progress: Callable[[list[np.ndarray], int], None] | None = None) -> Frame:
        """Wait for the next whole frame and return it.

        ``progress(partial_images, lines_done)`` is called as lines come in (NaN where not yet measured).
        Raises MarkerError if markers are missing or extra, MeasurementTimeout if no new pixel marker came for
        ``timeout_s`` (default: the settings' frame timeout), AcquisitionAborted on :meth:`abort` or ``stop``.
        """
        s = self._settings
        timeout = s.frame_timeout_s if timeout_s is None else float(timeout_s)
        n, nx = s.n_pixels, s.pixels_per_line
        with self._lock, vendor_errors(self.kind):
            self._abort.clear()
            for m in self._meas:
                m.clear()
                m.start()
            progressed, seen = time.monotonic(), -1
            lines_shown = 0
            while True:
                self._check_abort(stop, "stopped before the frame was complete")
                got = self._read_aligned()
                if got["raw_filled"] != seen:
                    progressed, seen = time.monotonic(), got["raw_filled"]
                frame_at = _first(got["frame"][0] > 0, got["first"], got["filled"])
                if frame_at is None and got["filled"] > got["first"] + n:
                    raise MarkerError(f"image: no frame marker on channel {s.frame_channel} within {got['filled']} "
                                      f"pixel markers (a frame has {n}): is the frame marker connected?")
                if frame_at is not None:
                    done = got["filled"] - frame_at
                    if done >= n + 1:
                        return self._frame(got, frame_at)
                    lines = min(done // nx, s.lines_per_frame)
                    if progress is not None and lines > lines_shown:
                        self._check_lines(got, frame_at, lines)
                        lines_shown = lines
                        progress(self._images(got, frame_at, lines), lines)
                if time.monotonic() - progressed > timeout:
                    for m in self._meas:
                        m.stop()
                    raise MeasurementTimeout(
                        f"image: no new pixel marker for {timeout:g} s ({got['filled']} pixel markers on channel "
                        f"{s.pixel_channel}, frame marker {'seen' if frame_at is not None else 'not seen'}; "
                        f"a frame has {n} pixels and one more marker after it)")
                self._abort.wait(POLL_S)

    # --- reading --------------------------------------------------------------------------------------------
    def _read_aligned(self) -> dict:
        """Every measurement's values on the first-started one's pixel numbering (they may have started a few
        pixel markers apart: the same markers give bit-identical widths, which tells by how many)."""
        raw = [(np.asarray(m.getData(), dtype=np.int64), np.asarray(m.getBinWidths(), dtype=np.int64))
               for m in self._meas]
        filled = [int(np.count_nonzero(w)) for _, w in raw]
        ref = int(np.argmax(filled))
        ref_w = raw[ref][1][:filled[ref]]
        aligned, usable, first = [], filled[ref], 0
        for (d, w), f in zip(raw, filled):
            shift = _shift(ref_w, w[:f])
            if shift is None and f < ALIGN_SURE:
                shift, f = 0, 0                  # too few values to tell yet: wait for more
            if shift is None:
                raise MarkerError("image: the photon and marker counters cannot be matched pixel for pixel "
                                  "(their pixel widths never agree, or agree at two offsets)")
            out = np.zeros(self.capacity, dtype=np.int64)
            out[shift:shift + f] = d[:min(f, self.capacity - shift)]
            aligned.append(out)
            usable = min(usable, shift + f)
            first = max(first, shift)            # before it, some counter had not started: no value there
        s = self._settings
        k = len(s.photon_channels)
        return {"photons": aligned[:k], "line": (aligned[k],), "frame": (aligned[k + 1],),
                "widths": raw[ref][1], "index": np.asarray(self._meas[ref].getIndex(), dtype=np.int64),
                "filled": usable, "first": first, "raw_filled": filled[ref]}

    def _check_lines(self, got, at, lines, whole=False) -> None:
        """The line markers ``pixels_per_line`` pixel markers apart from the frame's start, one per line (and, for
        a whole frame, the next frame's line marker right after it); no other frame marker within the frame."""
        s = self._settings
        nx, n = s.pixels_per_line, s.n_pixels
        end = at + lines * nx + (1 if whole else 0)
        counts = got["line"][0][at:end]
        if (counts > 1).any():
            p = int(np.flatnonzero(counts > 1)[0])
            raise MarkerError(f"image: two line markers within one pixel (pixel {p % nx} of line {p // nx}): "
                              f"the frame is refused")
        found = np.flatnonzero(counts)
        expected = np.arange(0, end - at, nx)
        if found.size != expected.size or (found != expected).any():
            j = int(np.flatnonzero(np.concatenate((found[:expected.size] != expected[:found.size],
                                                   [True])))[0])
            if j == 0:
                raise MarkerError("image: no line marker within the frame's first pixel: the frame is refused")
            if j < found.size:
                gap = int(found[j] - found[j - 1])
                what = f"{nx - gap} missing" if gap < nx else f"{gap - nx} extra"
                raise MarkerError(f"image: line {j - 1} of the frame has {gap} pixel markers, {nx} expected "
                                  f"({what} pixel markers, or a line marker lost): the frame is refused")
            raise MarkerError(f"image: no line marker {nx} pixel markers after line {j - 1}'s (pixel markers "
                              f"extra, or a line marker lost): the frame is refused")
        frames = got["frame"][0][at + 1:at + lines * nx]
        if frames.any():
            p = int(np.flatnonzero(frames)[0]) + 1
            raise MarkerError(f"image: a frame marker {p} pixel markers after the frame's start, within its {n} "
                              f"pixels (pixel markers missing): the frame is refused")

    def _frame(self, got, at) -> Frame:
        s = self._settings
        n = s.n_pixels
        self._check_lines(got, at, s.lines_per_frame, whole=True)
        if got["frame"][0][at + n] < 1:
            raise MarkerError(f"image: the next frame marker is not {n} pixel markers after the frame's "
                              f"(pixel markers extra or missing in the last line); the frame is refused")
        for m in self._meas:
            m.stop()
        widths = got["widths"][at:at + n]
        shape = (s.lines_per_frame, s.pixels_per_line)
        dwell = _unscan(widths.reshape(shape) / PS_PER_S, s.serpentine)
        counts = [_unscan(p[at:at + n].reshape(shape), s.serpentine) for p in got["photons"]]
        index = got["index"]
        capture_ps = int(index[at + n - 1] + widths[-1] - index[at])
        meta = self._meta()
        meta.update(capture_duration_s=capture_ps / PS_PER_S, dwell_mean_s=float(dwell.mean()),
                    dwell_min_s=float(dwell.min()), dwell_max_s=float(dwell.max()),
                    pixel_markers_before_frame=int(at),
                    frame_start_after_first_marker_s=float(index[at] / PS_PER_S))
        return Frame(counts, dwell, capture_ps / PS_PER_S, meta)

    def _images(self, got, at, lines) -> list[np.ndarray]:
        s = self._settings
        shape = (s.lines_per_frame, s.pixels_per_line)
        n_done = lines * s.pixels_per_line
        out = []
        widths = np.full(s.n_pixels, np.nan)
        widths[:n_done] = got["widths"][at:at + n_done] / PS_PER_S
        for p in got["photons"]:
            img = np.full(s.n_pixels, np.nan)
            img[:n_done] = p[at:at + n_done]
            if s.output_rate:
                img = img / widths
            out.append(_unscan(img.reshape(shape), s.serpentine))
        return out

    # --- data -------------------------------------------------------------------------------------------------
    def to_data(self, frame: Frame) -> dm.DataToExport:
        """The frame as datasets: the image of each photon channel (rate or counts) with its Poisson σ, the dwell
        image (s), and the capture duration (0D)."""
        s = self._settings
        labels = [_label(c) for c in s.photon_channels]
        if s.output_rate:
            values = [c / frame.dwell_s for c in frame.counts]
            sigma = [np.sqrt(c) / frame.dwell_s for c in frame.counts]
            units = "Hz"
        else:
            values = [c.astype(float) for c in frame.counts]
            sigma = [np.sqrt(c) for c in frame.counts]
            units = "counts"
        extra = {k: v for k, v in frame.metadata.items() if _plain(v)}
        axes = _pixel_axes(s)
        uncertainty = dict(extra, uncertainty="Poisson: sigma = sqrt(counts), per pixel")
        return dm.DataToExport(name="TimeTagger image", data=[
            dm.DataWithAxes(name="image", data=values, dim="Data2D", units=units, labels=labels, axes=axes,
                            extra=uncertainty, type_name="DataFromPlugins"),
            dm.DataWithAxes(name="image sigma", data=sigma, dim="Data2D", units=units,
                            labels=[f"{lb} sigma" for lb in labels], axes=axes, extra=extra,
                            type_name="DataFromPlugins"),
            dm.DataWithAxes(name="dwell", data=[frame.dwell_s], dim="Data2D", units="s", labels=["dwell (s)"],
                            axes=axes, extra=extra, type_name="DataFromPlugins"),
            dm.DataWithAxes(name="frame duration", data=[np.array([frame.capture_s])], dim="Data0D", units="s",
                            labels=["duration (s)"], axes=[], extra=extra, type_name="DataFromPlugins"),
        ])

    def partial_data(self, images: list[np.ndarray]) -> dm.DataToExport:
        s = self._settings
        return dm.DataToExport(name="TimeTagger image", data=[
            dm.DataWithAxes(name="image", data=images, dim="Data2D", units="Hz" if s.output_rate else "counts",
                            labels=[_label(c) for c in s.photon_channels], axes=_pixel_axes(s), extra={},
                            type_name="DataFromPlugins")])


def _pixel_axes(s) -> list:
    return [dm.Axis(label="line", units="", data=np.arange(s.lines_per_frame, dtype=float), index=0),
            dm.Axis(label="pixel", units="", data=np.arange(s.pixels_per_line, dtype=float), index=1)]


def _unscan(img: np.ndarray, serpentine: bool) -> np.ndarray:
    """Values in scan order (lines × pixels) to image order: a serpentine scan's odd lines reversed."""
    if serpentine:
        img = img.copy()
        img[1::2] = img[1::2, ::-1]
    return img


def _first(mask: np.ndarray, start: int, limit: int):
    hits = np.flatnonzero(mask[start:limit])
    return int(hits[0]) + start if hits.size else None


def _shift(ref: np.ndarray, w: np.ndarray) -> int | None:
    """The s for which w[k] == ref[k + s] over every value both have (None: no s, or more than one: ambiguous).

    Bit-identical widths over a whole overlap (thousands of pixels once a frame is under way) do not happen by
    chance; with fewer than ALIGN_WINDOW values in common the answer waits (None is not returned for them).
    """
    if w.size == 0:
        return 0
    k = min(ALIGN_WINDOW, w.size)
    if ref.size < k:
        return None
    windows = np.lib.stride_tricks.sliding_window_view(ref, k)
    found = []
    for s in np.flatnonzero((windows == w[:k]).all(axis=1)).tolist():
        m = min(w.size, ref.size - s)
        if np.array_equal(ref[s:s + m], w[:m]):
            found.append(s)
    return found[0] if len(found) == 1 else None

def _label(c: int) -> str:
    return f"ch{c}" if c > 0 else f"ch{-c} falling"


def _plain(v) -> bool:
    return isinstance(v, (bool, int, float, str)) or (
        isinstance(v, list) and all(isinstance(x, (bool, int, float, str)) for x in v))


# ------------------------------------------------------------------------------------------------------- pulsed
@dataclass
class Pulsed:
    """Histograms per step (steps × bins, counts), the sweeps (rollovers) and the capture duration."""

    histograms: np.ndarray
    sweeps: int
    capture_s: float
    metadata: dict


class PulsedRun(_MarkerRun):
    """One exact window of ``TimeDifferences`` per :meth:`acquire` (see the module docstring)."""

    kind = "pulsed"

    def _check_more(self, s):
        chans = [abs(c) for c in (s.readout_channel, s.laser_channel, s.step_channel, s.sequence_channel)]
        if len(set(chans)) != len(chans):
            raise SettingsError("pulsed: the photon, laser, step and sequence channels must be different inputs")
        if s.n_steps * s.n_time_bins > MAX_BINS:
            raise SettingsError(f"pulsed: steps × time bins is {s.n_steps * s.n_time_bins}, at most {MAX_BINS}")
        if s.readout_start_ps + s.readout_window_ps > s.time_bin_ps * s.n_time_bins:
            raise SettingsError(f"pulsed: the readout window ends at {s.readout_start_ps + s.readout_window_ps} ps, after "
                                f"the histogram's {s.time_bin_ps * s.n_time_bins} ps")

    def _create(self):
        s, api = self._settings, self.handle.api
        return [api.TimeDifferences(self.handle.tagger, s.readout_channel, s.laser_channel, s.step_channel,
                                    s.sequence_channel, s.time_bin_ps, s.n_time_bins, s.n_steps)]

    def acquire(self, stop: threading.Event | None = None) -> Pulsed:
        """Integrate exactly ``sweeps`` whole sequences (the vendor's setMaxCounts: it stops at that rollover)."""
        s = self._settings
        (m,) = self._meas
        with self._lock, vendor_errors(self.kind):
            self._abort.clear()
            m.clear()
            m.setMaxCounts(s.sweeps)
            m.start()
            progressed, seen = time.monotonic(), 0
            while not m.ready():
                self._check_abort(stop, f"stopped before its {s.sweeps} sweeps")
                if m.getCounts() != seen:
                    progressed, seen = time.monotonic(), m.getCounts()
                if time.monotonic() - progressed > s.frame_timeout_s:
                    m.stop()
                    raise MeasurementTimeout(
                        f"pulsed: no new sweep for {s.frame_timeout_s:g} s, {seen} of {s.sweeps} done (histogram "
                        f"index {m.getHistogramIndex()}: -2 waits for a sync marker on channel "
                        f"{s.sequence_channel}, -1 for a next marker on {s.step_channel})")
                self._abort.wait(POLL_S / 10)
            elapsed = m.getCaptureDuration() / PS_PER_S
            m.stop()
            hist = np.asarray(m.getData(), dtype=np.int64)
            if hist.shape != (s.n_steps, s.n_time_bins):
                raise TaggerError(f"pulsed: the Time Tagger returned histograms of shape {hist.shape}, "
                                  f"{(s.n_steps, s.n_time_bins)} were set")
            meta = self._meta()
            meta.update(capture_duration_s=elapsed)
            return Pulsed(hist, int(m.getCounts()), elapsed, meta)

    def readout(self, p: Pulsed) -> tuple[np.ndarray, np.ndarray]:
        """Counts per sweep in the readout window of each step, and their Poisson σ.

        The window covers the bins whose left edge lies in [readout_start_ps, readout_start_ps + readout_window_ps).
        """
        s = self._settings
        edges = np.arange(s.n_time_bins) * s.time_bin_ps
        inside = (edges >= s.readout_start_ps) & (edges < s.readout_start_ps + s.readout_window_ps)
        counts = p.histograms[:, inside].sum(axis=1).astype(float)
        return counts / p.sweeps, np.sqrt(counts) / p.sweeps

    def to_data(self, p: Pulsed) -> dm.DataToExport:
        s = self._settings
        extra = {k: v for k, v in p.metadata.items() if _plain(v)}
        signal, sigma = self.readout(p)
        t_s = np.arange(s.n_time_bins) * s.time_bin_ps / PS_PER_S
        steps = np.arange(s.n_steps, dtype=float)
        return dm.DataToExport(name="TimeTagger pulsed", data=[
            dm.DataWithAxes(name="histograms", data=[p.histograms.astype(float)], dim="Data2D", units="counts",
                            labels=["counts"], axes=[dm.Axis(label="step", units="", data=steps, index=0),
                                                     dm.Axis(label="time", units="s", data=t_s, index=1)],
                            extra=extra, type_name="DataFromPlugins"),
            dm.DataWithAxes(name="readout", data=[signal, sigma], dim="Data1D", units="counts",
                            labels=["counts per sweep", "sigma"],
                            axes=[dm.Axis(label="step", units="", data=steps, index=0)], extra=dict(
                                extra, uncertainty="Poisson: sigma = sqrt(window counts) / sweeps"),
                            type_name="DataFromPlugins"),
            dm.DataWithAxes(name="sweeps", data=[np.array([float(p.sweeps)])], dim="Data0D", units="",
                            labels=["sweeps"], axes=[], extra=extra, type_name="DataFromPlugins"),
            dm.DataWithAxes(name="elapsed", data=[np.array([p.capture_s])], dim="Data0D", units="s",
                            labels=["elapsed (s)"], axes=[], extra=extra, type_name="DataFromPlugins"),
        ])
