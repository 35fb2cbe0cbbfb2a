"""Measurement runs: settings in, data out (with axis, units and metadata). Qt-free.

The viewer plugins and the bridge client both call this module, so a count rate or a g2 is computed
the same way in the dashboard and on a remote PC. A :class:`Run` owns the vendor measurement objects of
one measurement kind on one open tagger (a :class:`~.hardware.access.TaggerHandle`) and offers:

* :meth:`Run.acquire` - one exact window: clear, ``startFor(integration)``, wait (with a timeout and
  an abort check), read. What DAQ_Scan needs at each step.
* :meth:`Run.start_accumulating` / :meth:`Run.snapshot` / :meth:`Run.clear` - a live view that keeps
  integrating.

Each call returns a :class:`Result`: arrays, labels, units, an optional axis and the metadata of the
capture (actual duration, overflows during it, device). Settings errors raise :class:`SettingsError`
naming the field; a timeout raises :class:`~.hardware.errors.MeasurementTimeout`; an abort raises
:class:`AcquisitionAborted`. No method ever returns stale or made-up data in place of a measurement.
"""
from __future__ import annotations

import abc
import math
import threading
import time
from dataclasses import asdict, dataclass, field, fields, replace

import numpy as np

from .analysis.figures import Figures, correlation_analysis, histogram_analysis, zero_window
from .analysis.intervals import poisson_halfwidth
from .hardware.conventions import (CORRELATION_SIGN, correlation_bin_centres, correlation_zero_bin,
                                   index_convention)
from .hardware.errors import AcquisitionAborted, MeasurementTimeout, SettingsError, TaggerError
from .hardware.inputs import check_channel
from .hardware.vendor import VENDOR_EXCEPTIONS, vendor_errors
from .windows import WindowGroup, group_of
from .settings import (DEFAULT_TIMEOUT_MARGIN_S, KINDS, RECORDING_DATA, RECORDING_DATA_LABELS,  # noqa: F401 (API)
                       check, check_kind,
                       default, of_kind)

PS_PER_S = 1e12
#: how often a blocking acquisition checks for an abort, s
ABORT_POLL_S = 0.05


# ---------------------------------------------------------------------------------------- settings
# the fields, defaults, limits and validation come from the declarations of settings.py
@dataclass(frozen=True)
class CountrateSettings:
    """Count rate (Hz) of each channel over the integration window."""

    channels: tuple[int, ...] = default("countrate", "channels")
    integration_s: float = default("countrate", "integration_s")


@dataclass(frozen=True)
class CorrelationSettings:
    """Correlation τ = t(channel_1) − t(channel_2): counts or g2, plus g2(0) over ``zero_window_ps``."""

    channel_1: int = default("correlation", "channel_1")
    channel_2: int = default("correlation", "channel_2")
    binwidth_ps: int = default("correlation", "binwidth_ps")
    n_bins: int = default("correlation", "n_bins")
    normalize: bool = default("correlation", "normalize")
    #: g2(0) is the mean g2 of the bins whose centre lies within ±zero_window_ps/2 of zero
    zero_window_ps: int = default("correlation", "zero_window_ps")
    integration_s: float = default("correlation", "integration_s")
    # the statistics (analysis/figures.py)
    raw_counts: bool = default("correlation", "raw_counts")
    background_1_hz: float = default("correlation", "background_1_hz")
    background_2_hz: float = default("correlation", "background_2_hz")
    g2_fit: bool = default("correlation", "g2_fit")
    g2_bunching: bool = default("correlation", "g2_bunching")
    jitter_fwhm_ps: float = default("correlation", "jitter_fwhm_ps")
    fit_jitter: bool = default("correlation", "fit_jitter")
    pulse_period_ps: int = default("correlation", "pulse_period_ps")


@dataclass(frozen=True)
class CounterSettings:
    """Count-rate trace (Hz per bin of ``binwidth_ps``), the newest ``n_values`` bins, newest last."""

    channels: tuple[int, ...] = default("counter", "channels")
    binwidth_ps: int = default("counter", "binwidth_ps")
    n_values: int = default("counter", "n_values")
    integration_s: float = default("counter", "integration_s")


@dataclass(frozen=True)
class HistogramSettings:
    """Start-stop histogram (lifetime, TCSPC): clicks after each start, bins of ``binwidth_ps``."""

    click_channel: int = default("histogram", "click_channel")
    start_channel: int = default("histogram", "start_channel")
    binwidth_ps: int = default("histogram", "binwidth_ps")
    n_bins: int = default("histogram", "n_bins")
    integration_s: float = default("histogram", "integration_s")
    lifetime_fit: int = default("histogram", "lifetime_fit")
    irf_fwhm_ps: float = default("histogram", "irf_fwhm_ps")


@dataclass(frozen=True)
class CoincidencesSettings:
    """n-fold coincidences of channel groups within ``window_ps``, with the singles of the same window."""

    groups: tuple[tuple[int, ...], ...] = default("coincidences", "groups")
    window_ps: int = default("coincidences", "window_ps")
    integration_s: float = default("coincidences", "integration_s")


def make_settings(kind: str, **values):
    """Build the settings of ``kind`` from keyword values (unknown names raise SettingsError)."""
    cls = MEASUREMENTS[check_kind(kind)].settings
    known = {f.name for f in fields(cls)}
    unknown = set(values) - known
    if unknown:
        raise SettingsError(f"{kind}: unknown setting(s) {', '.join(sorted(unknown))}; "
                            f"known: {', '.join(sorted(known))}")
    return cls(**values)


# ---------------------------------------------------------------------------------------- results
@dataclass(frozen=True)
class AxisSpec:
    label: str
    units: str
    values: np.ndarray


@dataclass
class Result:
    """One dataset: ``data`` (one array per channel), ``labels``, ``units``, optional ``axis``.

    ``dim`` is 'Data0D' (one-element arrays) or 'Data1D'. ``metadata`` holds the capture facts:
    ``capture_duration_s``, ``overflows`` (during the capture; on a Network Time Tagger the client's
    count), ``overflows_hardware`` (and ``overflows_client`` on a Network Time Tagger), ``device``,
    ``simulated``.
    ``companions`` are extra datasets computed from the same capture (g2(0) next to the g2 curve).
    ``errors``: the error bar of each array of ``data`` (same shapes; None where there is none), the half width
    of the exact 68.27 % interval of its counts (analysis/intervals.py).
    """

    name: str
    dim: str
    data: list[np.ndarray]
    labels: list[str]
    units: str
    axis: AxisSpec | None = None
    metadata: dict = field(default_factory=dict)
    companions: list["Result"] = field(default_factory=list)
    errors: list[np.ndarray] | None = None


# ---------------------------------------------------------------------------------------- runs
def check_integration(value) -> float:
    return check("integration_s", value)


def check_settings(s, handle, spell=lambda name: name):
    """``s`` with every field checked (settings.py) and its channels checked against the device's inputs; the
    SettingsError names the field as ``spell(name)`` (the option, on the command line)."""
    values = {}
    for decl in of_kind(_kind_of(s)):
        v = getattr(s, decl.name)
        who = spell(decl.name)
        if decl.type == "channels":  # the types first, then the device's inputs: its message names the model
            v = check(decl.name, v, lambda n: who)
            v = tuple(_one_channel(c, handle, f"{who}: channel") for c in v)
        elif decl.type == "channel":
            v = _one_channel(check(decl.name, v, lambda n: who), handle, who)
        elif decl.type == "groups":
            v = tuple(tuple(_one_channel(c, handle, decl.name) for c in g) for g in check(decl.name, v))
        else:
            v = check(decl.name, v, lambda n: who)
        values[decl.name] = v
    return replace(s, **values)


def _kind_of(s) -> str:
    for k, m in MEASUREMENTS.items():
        if isinstance(s, m.settings):
            return k
    raise SettingsError(f"not the settings of a measurement: {type(s).__name__}")


class Run(abc.ABC):
    """Vendor measurement objects of one kind on one tagger, driven window by window or live."""

    kind = ""

    def __init__(self, handle, settings):
        self.handle = handle
        self._settings = self.validate(settings, handle)
        self._meas: list = []
        self._abort = threading.Event()
        self._lock = threading.RLock()
        self._overflows_at_start: dict[str, int] = {}
        self._accumulating = False
        self._shares_window = False
        #: a recording.Recorder: the tags of every exact window are recorded beside its data (None: not)
        self.recorder = None
        self._build()

    # --- public ------------------------------------------------------------------------------
    @property
    def settings(self):
        return self._settings

    @property
    def shares_window(self) -> bool:
        """True: :meth:`acquire` captures on one window with the other such runs of the tagger grabbed at the
        same time (windows.py; the viewer plugins' runs)."""
        return self._shares_window

    @shares_window.setter
    def shares_window(self, value: bool) -> None:
        self._shares_window = bool(value)
        group = group_of(self.handle)
        group.add(self) if self._shares_window else group.remove(self)

    @property
    def accumulating(self) -> bool:
        """True between :meth:`start_accumulating` and :meth:`stop` (or an exact acquisition)."""
        return self._accumulating

    def update(self, settings) -> None:
        """Apply new settings: validated first; the measurement objects are rebuilt if needed."""
        new = self.validate(settings, self.handle)
        with self._lock:
            rebuild = self._structure(new) != self._structure(self._settings)
            old, self._settings = self._settings, new
            if rebuild:
                self._destroy()
                self._accumulating = False
                try:
                    self._build()
                except SettingsError:  # the device refused them: the measurement runs on as it was
                    self._settings = old
                    self._build()
                    raise

    def acquire(self, integration_s: float | None = None, timeout_s: float | None = None,
                stop: threading.Event | None = None) -> Result:
        """Measure one exact window of ``integration_s`` (default: the settings') and return it.

        Blocks for the integration time. Raises MeasurementTimeout if the tagger has not delivered
        the window ``timeout_s`` after the start (default: integration + 5 s), AcquisitionAborted if
        :meth:`abort` was called meanwhile or the caller's ``stop`` event is set (before or during the
        window: unlike :meth:`abort`, an event set just before the call is not lost).
        """
        t_int = check_integration(self._settings.integration_s if integration_s is None else integration_s)
        timeout = t_int + DEFAULT_TIMEOUT_MARGIN_S if timeout_s is None else float(timeout_s)
        with self._lock, vendor_errors(self.kind):
            self._abort.clear()
            self._accumulating = False
            duration_ps = int(round(t_int * PS_PER_S))
            self._overflows_at_start = self._overflows()
            recording = None if self.recorder is None else self.recorder.window(self.handle, self.kind,
                                                                                  self._settings)
            if recording is not None:
                recording.start(duration_ps)  # with the measurements: the same tags (the recording's own window)
            window = None
            if self._shares_window:
                window = group_of(self.handle).start(
                    self, duration_ps, lambda: self._abort.is_set() or (stop is not None and stop.is_set()))
            else:
                for m in self._meas:
                    m.startFor(duration_ps, clear=True)
            deadline = time.monotonic() + timeout
            try:
                for m in self._meas:
                    while True:
                        if self._abort.is_set() or (stop is not None and stop.is_set()):
                            self._stop_all()
                            raise AcquisitionAborted(f"{self.kind}: acquisition stopped before the end "
                                                     f"of its {t_int:g} s window")
                        left = deadline - time.monotonic()
                        if left <= 0:
                            self._stop_all()
                            raise MeasurementTimeout(
                                f"{self.kind}: the Time Tagger did not deliver {t_int:g} s of data within "
                                f"{timeout:g} s (captured {m.getCaptureDuration() / PS_PER_S:.3f} s); "
                                f"is it still connected?")
                        if m.waitUntilFinished(int(min(left, ABORT_POLL_S) * 1000) or 1):
                            break
                        if recording is not None:
                            recording.drain()
                result = self._result()
            finally:
                if recording is not None:  # an aborted window's file holds what was captured
                    recorded = recording.finish(self._meas[0].getCaptureDuration() if self._meas else 0)
            if window is not None:
                shared = WindowGroup.finish(self, window)
                result.metadata.update(shared)
                for c in result.companions:
                    c.metadata.update(shared)
            if self.recorder is not None:  # a recording that stopped says so in every later window
                recorded = recorded if recording is not None else {"recording_error": self.recorder.error}
                result.metadata.update(recorded)
                result.companions.append(recording_result(recorded))
            return result

    def start_accumulating(self) -> None:
        """Clear and run continuously: :meth:`snapshot` then shows everything since this call."""
        with self._lock, vendor_errors(self.kind):
            self._abort.clear()
            self._overflows_at_start = self._overflows()
            for m in self._meas:
                m.clear()
                m.start()
            self._accumulating = True

    def accumulate(self, refresh_s: float) -> Result:
        """Live view: keep integrating (starting if needed), wait ``refresh_s``, return everything so far.

        Raises AcquisitionAborted if :meth:`abort` is called during the wait.
        """
        refresh = check_integration(refresh_s)
        self._abort.clear()
        if not self._accumulating:
            self.start_accumulating()
        if self._abort.wait(refresh):
            raise AcquisitionAborted(f"{self.kind}: live view stopped")
        return self.snapshot()

    def snapshot(self) -> Result:
        """The data accumulated so far (the measurement keeps running)."""
        with self._lock, vendor_errors(self.kind):
            return self._result()

    def clear(self) -> None:
        """Forget what has been accumulated and go on integrating from now."""
        with self._lock, vendor_errors(self.kind):
            self._overflows_at_start = self._overflows()
            for m in self._meas:
                m.clear()

    def stop(self) -> None:
        """Stop integrating (accumulated data stay readable until the next start)."""
        with self._lock, vendor_errors(self.kind):
            self._stop_all()
            self._accumulating = False

    def abort(self) -> None:
        """Make a blocking :meth:`acquire` return at once (raising AcquisitionAborted). Thread-safe."""
        self._abort.set()

    def close(self) -> None:
        """Stop and release the measurement objects (the tagger stays open: the handle owns it)."""
        self._abort.set()
        if self._shares_window:
            group_of(self.handle).remove(self)
        with self._lock:
            self._destroy()

    # --- for subclasses ----------------------------------------------------------------------
    @classmethod
    def validate(cls, settings, handle):
        """Return checked settings, or raise SettingsError naming the bad field."""
        expected = MEASUREMENTS[cls.kind].settings
        if not isinstance(settings, expected):
            raise SettingsError(f"{cls.kind}: expected {expected.__name__}, "
                                f"got {type(settings).__name__}")
        return check_settings(settings, handle)

    @abc.abstractmethod
    def _structure(self, settings) -> tuple:
        """The settings that need new measurement objects when they change."""

    @abc.abstractmethod
    def _create(self) -> list:
        """Create the vendor measurement objects for the current settings."""

    @abc.abstractmethod
    def _read(self) -> Result:
        """Read the measurement objects into a Result (metadata is added by the caller)."""

    # --- shared ------------------------------------------------------------------------------
    def _build(self) -> None:
        try:
            self._meas = self._create()
        except (TaggerError, *VENDOR_EXCEPTIONS) as e:
            raise SettingsError(f"{self.kind}: the Time Tagger refused the settings: {e}") from e
        for m in self._meas:  # vendor measurements start on construction: wait for a grab
            m.stop()

    def _destroy(self) -> None:
        for m in self._meas:
            try:
                m.stop()
                m.__exit__(None, None, None)
            except (TaggerError, *VENDOR_EXCEPTIONS):  # released anyway: the tagger's close frees it
                pass
        self._meas = []

    def _stop_all(self) -> None:
        for m in self._meas:
            m.stop()

    def _overflows(self) -> dict[str, int]:
        return overflow_counters(self.handle.tagger)

    def _result(self) -> Result:
        res = self._read()
        capture_ps = int(self._meas[0].getCaptureDuration()) if self._meas else 0
        now = self._overflows()
        during = {k: max(0, v - self._overflows_at_start.get(k, 0)) for k, v in now.items()}
        meta = {
            "capture_duration_s": capture_ps / PS_PER_S,
            # a Network Time Tagger's client counter includes the device's and the network's losses
            "overflows": during.get("client", during.get("hardware", 0)),
            **{f"overflows_{k}": v for k, v in during.items()},
            "device": self.handle.description,
            "simulated": bool(self.handle.simulated),
            "measurement": self.kind,
            **{k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self._settings).items()},
        }
        res.metadata.update(meta)
        for c in res.companions:
            c.metadata.update(meta)
        return res


def recording_result(recorded: dict) -> Result:
    """The 0D dataset of a recorded window: its index (the file's number), tags written, tags lost (-1, 0, 0 once
    the recording stopped). PyMoDAQ's scan file keeps no extra attributes: with it each step names its file."""
    values = [recorded.get("recording_index", -1), recorded.get("recording_tags", 0),
              recorded.get("recording_tags_lost", 0)]
    return Result(RECORDING_DATA, "Data0D", [np.array([float(v)]) for v in values], list(RECORDING_DATA_LABELS), "",
                  metadata=dict(recorded))


def overflow_counters(tagger) -> dict[str, int]:
    """The tagger's overflow counters: ``hardware`` (``getOverflows``) and, on a Network Time Tagger,
    ``client`` (``getOverflowsClient``: blocks lost on the device or on the network, wheel docstring)."""
    out = {}
    for key, method in (("hardware", "getOverflows"), ("client", "getOverflowsClient")):
        getter = getattr(tagger, method, None)
        if getter is None:
            continue
        try:
            out[key] = int(getter())
        except (TaggerError, *VENDOR_EXCEPTIONS):  # a counter that cannot be read is left out, never reported as 0
            pass
    return out


def _one_channel(value, handle, what) -> int:
    from .virtual_inputs import virtual_numbers
    if isinstance(value, (int, np.integer)) and int(value) in virtual_numbers(handle):
        return int(value)   # a virtual channel built on this tagger (virtual_inputs.py)
    try:
        return check_channel(handle.tagger, value, what)
    except TaggerError as e:
        raise SettingsError(str(e)) from None


def channel_label(c: int) -> str:
    return f"ch{c}" if c > 0 else f"ch{-c} falling"


class CountrateRun(Run):
    kind = "countrate"


    def _structure(self, s):
        return (s.channels,)

    def _create(self):
        return [self.handle.api.Countrate(self.handle.tagger, list(self._settings.channels))]

    def _read(self):
        m = self._meas[0]
        counts = np.asarray(m.getCountsTotal(), dtype=float)
        dur = m.getCaptureDuration() / PS_PER_S
        # counts over the exact capture window (the vendor's getData() divides by the time since
        # the first tag instead, which differs when a channel is slow to start)
        rates = counts / dur if dur > 0 else np.full(counts.shape, np.nan)
        errors = poisson_halfwidth(counts) / dur if dur > 0 else np.full(counts.shape, np.nan)
        return Result("Countrate", "Data0D", [np.array([r]) for r in rates],
                      [channel_label(c) for c in self._settings.channels], "Hz",
                      metadata={"counts": [int(c) for c in counts]}, errors=[np.array([e]) for e in errors])


class CorrelationRun(Run):
    kind = "correlation"


    def _structure(self, s):
        return (s.channel_1, s.channel_2, s.binwidth_ps, s.n_bins)

    def _create(self):
        s = self._settings
        # the singles of the two inputs over the same window (the raw counts and the g2(0) interval need them)
        inputs = [s.channel_1] if s.channel_1 == s.channel_2 else [s.channel_1, s.channel_2]
        return [self.handle.api.Correlation(self.handle.tagger, s.channel_1, s.channel_2,
                                            s.binwidth_ps, s.n_bins),
                self.handle.api.Countrate(self.handle.tagger, inputs)]

    def _read(self):
        s = self._settings
        m = self._meas[0]
        # the axis comes from binwidth and n_bins (bin centres), never from getIndex(): the vendor's
        # gives left edges, other backends may give centres (conventions.py, the Correlation axis)
        tau_ps = correlation_bin_centres(s.binwidth_ps, s.n_bins)
        counts = np.asarray(m.getData(), dtype=float)
        g2 = np.asarray(m.getDataNormalized(), dtype=float)
        if counts.shape != (s.n_bins,) or g2.shape != (s.n_bins,):
            raise TaggerError(f"correlation: the Time Tagger returned {counts.size} bins, "
                              f"{s.n_bins} were set")
        if getattr(self, "_index_of", None) is not m:  # what the backend's getIndex gives, once per object
            self._index_of, self._backend_index = m, index_convention(m.getIndex(), s.binwidth_ps, s.n_bins)
        meta = {"total_coincidences": int(counts.sum()), "sign": CORRELATION_SIGN,
                "axis": "bin centres", "backend_index": self._backend_index}
        if s.channel_1 == s.channel_2:
            removed, note = remove_self_pairs(counts, g2, correlation_zero_bin(s.binwidth_ps, s.n_bins),
                                              m.getCaptureDuration(), s.binwidth_ps)
            meta.update(self_pairs_removed=removed, self_pairs=note)
        singles = [int(x) for x in np.asarray(self._meas[1].getCountsTotal())]
        singles = singles * 2 if len(singles) == 1 else singles
        capture_ps = float(m.getCaptureDuration())
        stats = correlation_analysis(tau_ps, counts, s.binwidth_ps, s.zero_window_ps, tuple(singles),
                                     (s.channel_1, s.channel_2), capture_ps, s)
        # g2 per count: the vendor's normalisation Δt/(binwidth·N1·N2), from the same singles
        per_count = capture_ps / (s.binwidth_ps * singles[0] * singles[1]) if singles[0] * singles[1] else np.nan
        scale = per_count if s.normalize else 1.0
        data, units = (g2, "") if s.normalize else (counts, "counts")
        label = "g2" if s.normalize else "coincidences"
        arrays, labels, errors = [data], [f"{label} ch{s.channel_1}-ch{s.channel_2}"], [stats.errors * scale]
        if stats.curve is not None:  # drawn over the data (a model curve has no counting error)
            arrays.append(stats.curve * scale)
            labels.append(f"{label} fit")
            errors.append(np.zeros(s.n_bins))
        axis = AxisSpec("delay", "s", tau_ps / PS_PER_S)
        g2_0 = zero_delay_mean(tau_ps, g2, s.zero_window_ps)
        meta.update(singles=singles)
        companion = Result("g2(0)", "Data0D", [np.array([g2_0])], ["g2(0)"], "dimensionless",
                           metadata={"zero_window_ps": s.zero_window_ps},
                           errors=[np.array([stats.g2_zero_error])])
        return Result("Correlation", "Data1D", arrays, labels, units, axis, metadata=meta,
                      companions=[companion, *(_figures(f) for f in stats.figures)], errors=errors)


#: an auto-correlation's zero bin is taken to hold the self-pairs when it holds at least this fraction
#: of the clicks (with them it holds all N clicks plus real pairs; without, about N·rate·binwidth·g2(0))
SELF_PAIR_FRACTION = 0.5


def remove_self_pairs(counts: np.ndarray, g2: np.ndarray, zero_bin: int, capture_ps: int,
                      binwidth_ps: int) -> tuple[int, str]:
    """Remove, in place, an auto-correlation's self-pairs (each click against itself) from the zero bin.

    The vendor counts them (``conventions.AUTOCORRELATION_SELF_PAIRS``); a backend might not, so they are
    detected by count: the number of clicks N follows from the normalisation, g2/counts = Δt/(binwidth·N²),
    and the zero bin holds them if it holds at least ``SELF_PAIR_FRACTION``·N. Returns (pairs removed, a
    sentence for the metadata). With overflows Δt is shorter than the capture on the vendor's side and N
    is an estimate (slightly high); the subtraction never goes below zero.
    """
    ok = (counts > 0) & np.isfinite(g2)
    if not ok.any() or capture_ps <= 0:
        return 0, "no coincidences: no self-pairs to remove"
    factor = float(np.median(g2[ok] / counts[ok]))            # Δt / (binwidth · N²)
    n_clicks = int(round(np.sqrt(capture_ps / (binwidth_ps * factor))))
    zero = counts[zero_bin]
    if zero < SELF_PAIR_FRACTION * n_clicks:
        return 0, (f"the zero bin holds {int(zero)} pairs for {n_clicks} clicks: the backend does not "
                   f"count clicks against themselves, nothing removed")
    removed = int(min(n_clicks, zero))
    counts[zero_bin] -= removed
    g2[zero_bin] -= removed * factor
    return removed, (f"removed {removed} self-pairs (each click against itself at tau = 0, counted by "
                     f"the vendor's auto-correlation) from the zero bin")


def zero_delay_mean(tau_ps: np.ndarray, values: np.ndarray, window_ps: float) -> float:
    """Mean of ``values`` over the bins whose centre is within ±window/2 of zero delay.

    If no bin centre lies in the window (a window narrower than a bin), the bin(s) nearest zero are
    used: two bins straddling zero for an even number of bins, one bin otherwise.
    """
    if tau_ps.size == 0:
        return float("nan")
    return float(np.mean(values[zero_window(tau_ps, window_ps)]))


def _figures(f: Figures) -> Result:
    """A 0D dataset of the statistics (one channel per figure; units in the labels, as a scan file keeps)."""
    meta = dict(f.metadata)
    if f.status:
        meta["status"] = f.status
    return Result(f.name, "Data0D", [np.array([float(v)]) for v in f.values], list(f.labels), "", metadata=meta)


class CounterRun(Run):
    kind = "counter"


    def _structure(self, s):
        return (s.channels, s.binwidth_ps, s.n_values)

    def _create(self):
        s = self._settings
        return [self.handle.api.Counter(self.handle.tagger, list(s.channels), s.binwidth_ps, s.n_values)]

    def _read(self):
        s = self._settings
        m = self._meas[0]
        rates = np.asarray(m.getDataNormalized(), dtype=float)  # NaN where not yet integrated
        t = np.asarray(m.getIndex(), dtype=float) / PS_PER_S
        return Result("Counter", "Data1D", [rates[i] for i in range(rates.shape[0])],
                      [channel_label(c) for c in s.channels], "Hz", AxisSpec("time", "s", t))


class HistogramRun(Run):
    kind = "histogram"


    def _structure(self, s):
        return (s.click_channel, s.start_channel, s.binwidth_ps, s.n_bins)

    def _create(self):
        s = self._settings
        return [self.handle.api.Histogram(self.handle.tagger, s.click_channel, s.start_channel,
                                          s.binwidth_ps, s.n_bins)]

    def _read(self):
        s = self._settings
        m = self._meas[0]
        t = np.asarray(m.getIndex(), dtype=float) / PS_PER_S
        counts = np.asarray(m.getData(), dtype=float)
        stats = histogram_analysis(t * PS_PER_S, counts, s.binwidth_ps, s, irf=self.irf)
        arrays, labels, errors = [counts], [f"ch{s.click_channel} after ch{s.start_channel}"], [stats.errors]
        if stats.curve is not None:
            arrays.append(stats.curve)
            labels.append("fit")
            errors.append(np.zeros(counts.size))
        return Result("Histogram", "Data1D", arrays, labels, "counts", AxisSpec("time", "s", t),
                      metadata={"total_counts": int(counts.sum())},
                      companions=[_figures(f) for f in stats.figures], errors=errors)

    #: a measured instrument response on the same bins (counts), used by the lifetime fit instead of a Gaussian
    irf: np.ndarray | None = None

    def set_irf(self, irf) -> None:
        """Use ``irf`` (a histogram of the same bins, e.g. a capture of the laser's scatter) as the IRF of the
        lifetime fit; None: a Gaussian IRF again."""
        if irf is not None:
            irf = np.asarray(irf, dtype=float)
            if irf.shape != (self._settings.n_bins,):
                raise SettingsError(f"histogram: the IRF has {irf.size} bins, the histogram "
                                    f"{self._settings.n_bins}")
        self.irf = irf


class CoincidencesRun(Run):
    """Coincidences (vendor virtual channels) and singles counted by one Countrate: one window for both.

    The data: per group its coincidence rate, the accidentals expected from the singles of the same window, the
    accidental-subtracted rate (Hz, each with its one-sigma uncertainty); companions: the CAR, the singles and,
    for 2-fold groups, the heralding efficiencies (coincidence_stats.py, docs/coincidences.rst).
    """

    kind = "coincidences"

    def _structure(self, s):
        return (s.groups, s.window_ps)

    def _create(self):
        api, tagger, s = self.handle.api, self.handle.tagger, self._settings
        # the timestamp of a coincidence event: its completing (last) tag
        self._coinc = api.Coincidences(tagger, [list(g) for g in s.groups], int(s.window_ps),
                                       api.CoincidenceTimestamp.Last)
        self._singles = sorted({c for g in s.groups for c in g})
        self._virtual = [int(c) for c in self._coinc.getChannels()]
        return [api.Countrate(tagger, self._singles + self._virtual)]

    def _destroy(self):
        super()._destroy()
        coinc, self._coinc = getattr(self, "_coinc", None), None
        if coinc is not None:
            try:
                coinc.__exit__(None, None, None)
            except (TaggerError, *VENDOR_EXCEPTIONS):
                pass

    def _read(self):
        from .coincidence_stats import group_stats, heralding_efficiency
        m, s = self._meas[0], self._settings
        counts = [int(c) for c in m.getCountsTotal()]
        dur = m.getCaptureDuration() / PS_PER_S
        singles = dict(zip(self._singles, counts[:len(self._singles)]))
        coinc = counts[len(self._singles):]
        if dur <= 0:
            raise TaggerError("coincidences: the capture is empty (0 s): nothing to compute from")
        data, labels, car, car_labels, eta, eta_labels = [], [], [], [], [], []
        per_group = []
        for g, n in zip(s.groups, coinc):
            st = group_stats(g, n, [singles[c] for c in g], dur, s.window_ps)
            per_group.append(st)
            for what, v, e in (("rate", st.rate_hz, st.rate_sigma_hz), ("accidentals", st.accidentals_hz,
                                st.accidentals_sigma_hz), ("net", st.net_rate_hz, st.net_rate_sigma_hz)):
                data += [np.array([v]), np.array([e])]
                labels += [f"{st.label} {what}", f"{st.label} {what} sigma"]
            car += [np.array([st.car]), np.array([st.car_sigma])]
            car_labels += [f"{st.label} CAR", f"{st.label} CAR sigma"]
            if len(g) == 2:
                for herald, partner in ((g[0], g[1]), (g[1], g[0])):
                    v, e = heralding_efficiency(st, singles[herald], dur)
                    eta += [np.array([v]), np.array([e])]
                    eta_labels += [f"eta{partner} (herald {herald})", f"eta{partner} (herald {herald}) sigma"]
        single_data, single_labels = [], []
        for c, n in singles.items():
            single_data += [np.array([n / dur]), np.array([math.sqrt(n) / dur if n else 1.0 / dur])]
            single_labels += [channel_label(c), f"{channel_label(c)} sigma"]
        meta = {"counts": {st.label: st.counts for st in per_group},
                "counts_interval_68": {st.label: list(st.counts_interval) for st in per_group},
                "singles_counts": {channel_label(c): n for c, n in singles.items()},
                "coincidence_channels": self._virtual}
        companions = [Result("CAR", "Data0D", car, car_labels, ""),
                      Result("Singles", "Data0D", single_data, single_labels, "Hz")]
        if eta:
            companions.append(Result("Heralding efficiency", "Data0D", eta, eta_labels, ""))
        return Result("Coincidences", "Data0D", data, labels, "Hz", metadata=meta, companions=companions)


@dataclass(frozen=True)
class Measurement:
    """What a kind of measurement is: the dimension of its data, its settings class and its Run class."""

    dim: str
    settings: type
    run: type


#: the one table keyed by measurement kind (the names: settings.KINDS, against which settings are declared)
MEASUREMENTS = {"countrate": Measurement("0D", CountrateSettings, CountrateRun),
                "correlation": Measurement("1D", CorrelationSettings, CorrelationRun),
                "counter": Measurement("1D", CounterSettings, CounterRun),
                "histogram": Measurement("1D", HistogramSettings, HistogramRun),
                "coincidences": Measurement("0D", CoincidencesSettings, CoincidencesRun)}
assert tuple(MEASUREMENTS) == KINDS and all(m.run.kind == k for k, m in MEASUREMENTS.items())
assert all({f.name for f in fields(m.settings)} == {s.name for s in of_kind(k)} for k, m in MEASUREMENTS.items())


def dim_of(kind: str) -> str:
    """'0D' or '1D': the dimension of the data of ``kind``."""
    return MEASUREMENTS[check_kind(kind)].dim


def make_run(handle, kind: str, settings=None, **values) -> Run:
    """The :class:`Run` of ``kind`` on ``handle``, from a settings object or keyword values."""
    if settings is None:
        settings = make_settings(kind, **values)
    elif values:
        settings = replace(settings, **values)
    return MEASUREMENTS[check_kind(kind)].run(handle, settings)
