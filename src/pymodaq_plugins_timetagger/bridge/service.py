"""The measurement service of the remote side: one Time Tagger, its measurements and their settings. Qt-free.

It is what the transports serve: the TCP link (:mod:`.link`) and the LECO actor (:mod:`.leco_actor`) only
carry its answers. :class:`MeasurementService` implements the :class:`~.link.Responder` protocol of the TCP
link, so a viewer plugin can serve its own measurement through the same link with another implementation.

* open or report the tagger (:meth:`~MeasurementService.open`, :meth:`~MeasurementService.open_or_report`;
  a failure is reported in the status and every request tries again, reopening after a failed request);
* measure (:meth:`~MeasurementService.answer`: the measurements of one data dimension, or all of them, one
  exact window each, abortable with the caller's ``stop`` event);
* apply an edit (:meth:`~MeasurementService.apply_edit`: the value actually applied comes back; a refusal
  raises :class:`~.hardware.errors.SettingsError` naming the setting);
* the settings tree with titles and units (:meth:`~MeasurementService.settings_tree`), the infos, the status.

Errors of a measurement are logged, kept in ``status.last_error`` and raised as :class:`MeasurementFailed`
whose text is the one reported (the transports send it as they can); an abort raises AcquisitionAborted.
"""
from __future__ import annotations

import dataclasses
import logging
import threading
from dataclasses import replace

from .. import __version__
from .. import settings as declared
from ..settings import check_reply_fits, printable, reply_size  # noqa: F401 (API)
from ..dataset import RAW_TYPE, result_to_data
from ..hardware.access import TaggerHandle, open_tagger
from ..hardware.errors import AcquisitionAborted, SettingsError, TaggerError
from ..hardware.inputs import check_channel, configure_input
from ..runs import Result, Run, check_settings, dim_of, make_run, make_settings
from .. import data_model
from ..protocol.codec import DEFAULT_MAX_FRAME
from ..protocol.net import RateLimitedLog
from ..protocol.paramxml import Param, from_xml_string, to_xml_string

logger = logging.getLogger(__name__)

#: settings fields that describe the client and cannot be changed from the server
READONLY_FIELDS = ("address", "device", "measurement")
#: a refused set_info is logged at most once per this long (a peer may send thousands), s
REFUSED_LOG_PERIOD_S = 10.0


class MeasurementFailed(TaggerError):
    """A measurement failed; the message is the text reported (status, log)."""


@dataclasses.dataclass
class ClientStatus:
    """What the remote side shows: the link's state (set by the transport) and the service's (served, error)."""

    server: str = ""
    connected: bool = False
    requests_served: int = 0
    last_error: str = ""
    #: why the client is not connected (host unknown, refused, ...); '' when connected or not known yet
    waiting_reason: str = ""
    #: the user asked to stop (Ctrl-C...): the link ends, it waits for nothing any more
    stopping: bool = False

    def state(self) -> str:
        """The status without the request count: what changes when something happens."""
        if self.stopping:
            state = "stopping: freeing the Time Tagger"
        elif self.connected:
            state = f"connected to {self.server}"
        else:
            state = f"waiting for {self.server}" + (f" ({self.waiting_reason})" if self.waiting_reason else "")
        err = f" | last error: {self.last_error}" if self.last_error else ""
        return printable(f"[timetagger-client] {state}{err}")  # the reasons may quote a peer

    def line(self) -> str:
        state, sep, err = self.state().partition(" | last error: ")
        return f"{state} | requests served: {self.requests_served}{sep}{err}"


# ------------------------------------------------------------------------------- settings
def settings_tree(settings: dict, handle: TaggerHandle | None, address: str) -> Param:
    """The settings as a parameter tree (what a server mirrors under settings_client), titles and units from
    :mod:`..settings`. One measurement: its settings at the top level. Several: one group per measurement."""
    device = handle.description if handle is not None else "not open"
    kinds = list(settings)

    def params(kind):
        return [Param(**d) for d in declared.tree_params(kind, settings[kind])]
    if len(kinds) == 1:
        meas = params(kinds[0])
    else:
        meas = [Param(name=k, type="group", title=k.capitalize(), children=params(k)) for k in kinds]
    return Param(name="settings", type="group", title="Settings", children=[
        Param(name="address", type="str", value=address, title="Tagger address", readonly=True),
        Param(name="device", type="str", value=device, title="Device", readonly=True),
        Param(name="measurement", type="str", value=",".join(kinds), title="Measurement", readonly=True),
        *meas,
    ])


def apply_setting(settings, name: str, raw):
    """New settings with ``name`` (the setting's name, or the name it is shown as) set from a (string or typed)
    value; SettingsError names the field."""
    kind = kind_of(settings)
    names = [f.name for f in dataclasses.fields(settings)]
    if name in READONLY_FIELDS:
        raise SettingsError(f"{name} is fixed on the client (restart it with another --{name})")
    try:
        field_name, value = declared.from_shown(kind, name, raw)
    except SettingsError:
        if name not in names and name not in [declared.shown_name(kind, s) for s in declared.of_kind(kind)]:
            raise SettingsError(f"unknown setting {name!r}; settings: {', '.join(names)}") from None
        raise
    return replace(settings, **{field_name: value})


def kind_of(settings) -> str:
    """The measurement kind of a settings object."""
    for k in declared.KINDS:
        if isinstance(settings, type(make_settings(k))):
            return k
    raise SettingsError(f"not the settings of a measurement: {type(settings).__name__}")


def read_edit(xml) -> Param:
    """The one parameter of a peer's set_info XML (typed values, nothing evaluated); SettingsError if it is not
    readable (too large: a transport that did not keep it gives its size)."""
    if isinstance(xml, int):
        raise SettingsError(f"a set_info of {xml} bytes is too large")
    try:
        return from_xml_string(xml)
    except ValueError as e:
        raise SettingsError(f"unreadable XML: {printable(e)}") from None


#: refused set_info lines, at most one per REFUSED_LOG_PERIOD_S (a peer may send thousands)
_refusals_log = RateLimitedLog(logger, REFUSED_LOG_PERIOD_S)


def refusal(status: ClientStatus, text: str) -> str:
    """A refused setting: the last error of ``status``, logged (rate-limited); the text, control characters
    escaped."""
    text = printable(text)
    _refusals_log.log(logging.WARNING, "refused", "%s", text)
    status.last_error = text
    return text


def edit_path(path: list[str]) -> list[str]:
    """A setting's path as PyMoDAQ sends it, made relative to the settings tree.

    PyMoDAQ 5.0/5.1 servers prefix it with 'settings_client'; ours and LECO directors send it relative to the
    root; either may carry the root's name.
    """
    return [p for p in path if p not in ("settings", "settings_client")]


def check_kinds(kind) -> list[str]:
    """The measurement kinds asked for (one name or several), each known and given once."""
    kinds = [kind] if isinstance(kind, str) else list(kind)
    for k in kinds:
        declared.check_kind(k)
    if not kinds or len(set(kinds)) != len(kinds):
        raise SettingsError(f"give each measurement once, got {kinds}")
    return kinds


# ------------------------------------------------------------------------------- the service
class MeasurementService:
    """The measurements ``kind`` (one name or a list) of the Time Tagger at ``address``.

    ``settings``: a settings object (one kind) or a dict kind -> settings; missing ones get the declared
    defaults. ``on_status(status)`` is called whenever :attr:`status` changes (from the calling thread).
    Not thread-safe: one transport thread calls it (an abort comes through the ``stop`` event).
    """

    def __init__(self, address: str = "auto", kind="countrate", settings=None, *,
                 max_frame: int = DEFAULT_MAX_FRAME, sim_options: dict | None = None,
                 test_signal: tuple[int, ...] = (), on_status=None, type_name: str = RAW_TYPE):
        self.address = address
        self.kinds = check_kinds(kind)
        if settings is None:
            settings = {}
        elif not isinstance(settings, dict):
            settings = {self.kinds[0]: settings}
        self.settings = {k: settings.get(k) or make_settings(k) for k in self.kinds}
        self.max_frame = max_frame
        for k in self.kinds:
            check_reply_fits(self.settings[k], self.max_frame)
        self.sim_options = sim_options or {}
        self.test_signal = tuple(test_signal)
        self.type_name = type_name
        self.status = ClientStatus()
        self.on_status = on_status or (lambda st: None)
        self.handle: TaggerHandle | None = None
        self.runs: dict[str, Run] = {}
        self._suspect = False
        #: a directory: the tags of every window are recorded there, on this PC (docs/recording.rst); the file's
        #: name crosses the bridge in the dataset's metadata and its 0D dataset 'recording'
        self.record_directory: str | None = None
        self._recorders: dict = {}

    # ------------------------------------------------------------------ tagger
    def open(self, spell=lambda name: name) -> None:
        """Open the tagger and build the measurements (errors are raised, naming the address). The settings are
        checked against the tagger first (its inputs): SettingsError names the setting as ``spell(name)``
        (``--channels``, ``--test-signal`` on the command line)."""
        self.close()
        self.handle = open_tagger(self.address, **self.sim_options)
        try:
            for k in self.kinds:
                check_settings(self.settings[k], self.handle, spell)
            for c in self.test_signal:
                try:
                    check_channel(self.handle.tagger, c, f"{spell('test_signal')}: channel")
                except TaggerError as e:
                    raise SettingsError(str(e)) from None
                configure_input(self.handle.tagger, c, test_signal=True)
            for k in self.kinds:
                self.runs[k] = make_run(self.handle, k, self.settings[k])
                if self.record_directory:
                    from ..recording.recorder import Recorder  # lazy: h5py only when recording
                    self.runs[k].recorder = self._recorders.get(k) or Recorder(self.record_directory, k)
                    self._recorders[k] = self.runs[k].recorder
        except BaseException:  # whatever it was, the tagger is not left open half set up
            self.close()
            raise
        self.settings = {k: r.settings for k, r in self.runs.items()}
        self._suspect = False
        logger.info("tagger: %s; measurements %s", self.handle.description, ", ".join(self.kinds))

    def close(self) -> None:
        """Release the measurements and free the tagger (it is opened again by the next request)."""
        for run in self.runs.values():
            try:
                run.close()
            except TaggerError as e:
                logger.debug("closing the measurement: %s", e)
        self.runs = {}
        if self.handle is not None:
            self.handle.close()
            self.handle = None

    def close_recordings(self) -> None:
        """Finish writing the recorded windows (the session ends: a later open starts new sessions)."""
        for rec in self._recorders.values():
            if not rec.close():
                logger.error("recording: the last files were not all written: %s", rec.status())
        self._recorders = {}

    def open_or_report(self) -> None:
        """Open the tagger if it is not open; a failure is reported (status, log), not raised."""
        if self.handle is None:
            try:
                self.open()
            except TaggerError as e:
                self.error(f"cannot open the Time Tagger: {e}")

    # ------------------------------------------------------------------ measuring
    def kinds_for(self, dim: str | None) -> list[str]:
        """The measurements that answer 'Send Data <dim>': the only one, or every one of that dimension
        (None: all)."""
        if dim is None or len(self.kinds) == 1:
            return list(self.kinds)
        kinds = [k for k in self.kinds if dim_of(k) == dim]
        if not kinds:
            raise SettingsError(f"no {dim} measurement on this client (it serves {', '.join(self.kinds)})")
        return kinds

    def measure(self, kind: str, stop: threading.Event | None = None) -> Result:
        """One window of ``kind``; AcquisitionAborted when ``stop`` is set before or during it. After a failed
        request the tagger is opened again if the open one fails again."""
        if not self.runs:  # the tagger could not be opened so far: try again now
            self.open()
            return self.runs[kind].acquire(stop=stop)
        if not self._suspect:
            return self.runs[kind].acquire(stop=stop)
        try:
            result = self.runs[kind].acquire(stop=stop)
        except AcquisitionAborted:
            raise
        except TaggerError as e:
            logger.info("reopening the Time Tagger after: %s", e)
            self.open()
            result = self.runs[kind].acquire(stop=stop)
        self._suspect = False
        return result

    def results(self, dim: str | None, stop: threading.Event | None = None) -> list[Result]:
        """One window of each measurement of ``dim`` (None: all), one after the other, each exactly its
        ``integration_s``. Raises AcquisitionAborted, or MeasurementFailed with the text reported."""
        try:
            return [self.measure(k, stop) for k in self.kinds_for(dim)]
        except AcquisitionAborted:
            raise
        except SettingsError as e:
            raise MeasurementFailed(self.error(f"settings: {e}")) from e
        except TaggerError as e:  # the vendor's exceptions are TaggerErrors at the boundary (hardware.vendor)
            self._suspect = True
            raise MeasurementFailed(self.error(f"Time Tagger: {e}")) from e

    def answer(self, dim: str | None, stop: threading.Event | None = None) -> data_model.DataToExport:
        """The Responder call: :meth:`results` as one DataToExport (:func:`..dataset.result_to_data`)."""
        return result_to_data(self.results(dim, stop), self.type_name)

    def served(self) -> None:
        """A reply was delivered: count it, clear the last error."""
        self.status.requests_served += 1
        self.status.last_error = ""
        self.report()

    # ------------------------------------------------------------------ settings
    def settings_tree(self) -> Param:
        return settings_tree(self.settings, self.handle, self.address)

    def settings_xml(self) -> str:
        return to_xml_string(self.settings_tree())

    def kind_with(self, name: str) -> str:
        """The measurement that has setting ``name`` (its own name, or the one it is shown as; the first one)."""
        for k in self.kinds:
            if name in READONLY_FIELDS:
                return k
            try:
                declared.setting_shown_as(k, name)
                return k
            except SettingsError:
                continue
        raise SettingsError(f"unknown setting {printable(name)!r}")

    def apply_edit(self, path: list[str], xml) -> tuple[list[str], str]:
        """Apply a setting edited on the PyMoDAQ side (``path`` as sent, the XML of the parameter).

        Returns the setting's path in the tree, root included, and the XML of the value actually applied
        (what to echo back). Raises SettingsError (a ValueError) naming the setting when refused: then
        :meth:`applied_xml` gives the value still applied.
        """
        path = edit_path(path)
        param = read_edit(xml)
        name = param.name or (path[-1] if path else "")
        path = path or [name]
        kind = self._kind_at(path, name)
        new = apply_setting(self.settings[kind], name, param.value)
        check_reply_fits(new, self.max_frame)
        if new != self.settings[kind]:  # the value applied already: nothing restarts
            if kind in self.runs:
                self.runs[kind].update(new)
                new = self.runs[kind].settings
            self.settings[kind] = new
            logger.info("setting %s/%s = %r (from PyMoDAQ)", kind, name, param.value)
        return self.applied_xml(path)

    def _kind_at(self, path: list[str], name: str) -> str:
        """The measurement whose setting ``name`` is at ``path`` (relative to the tree); SettingsError, before
        anything is applied, if the path does not lead there."""
        where = printable("/".join(path))
        if path[-1] != name:
            raise SettingsError(f"{where}: the XML sets {printable(name)!r}, not the setting at that path")
        if len(path) == 2 and path[0] in self.kinds and len(self.kinds) > 1:
            kind = path[0]
        elif len(path) == 1:
            kind = self.kind_with(name)
        else:
            raise SettingsError(f"{where} is not a setting of the tree")
        if self.applied_xml(path) is None:
            raise SettingsError(f"{where} is not a setting of the tree")
        return kind

    def applied_xml(self, path: list[str]) -> tuple[list[str], str] | None:
        """(``[root, *path]``, XML of the value applied) of the setting at ``path`` (as sent), None if there is
        none there. Info_xml paths start with the root's name: PyMoDAQ's servers drop path[0]."""
        path = edit_path(path)
        tree = self.settings_tree()
        try:
            applied = tree.child(*path) if path else None
        except KeyError:
            applied = None
        if applied is None:
            return None
        return [tree.name, *path], to_xml_string(applied)

    def infos(self) -> dict[str, str]:
        h = self.handle
        info = {"name": f"TimeTagger {'+'.join(self.kinds)}",
                "software": f"pymodaq_plugins_timetagger {__version__}", "measurement": ",".join(self.kinds)}
        if h is not None:
            info.update(device=h.description, serial=str(h.serial), model=str(h.model),
                        simulated=str(bool(h.simulated)))
        return info

    # ------------------------------------------------------------------ status
    def error(self, text: str) -> str:
        """Log ``text`` as the last error, show it; returns it (control characters escaped)."""
        text = printable(text)
        logger.error(text)
        self.status.last_error = text
        self.report()
        return text

    def refused(self, text: str) -> str:
        """A refused setting: :func:`refusal`, shown."""
        text = refusal(self.status, text)
        self.report()
        return text

    def report(self) -> None:
        self.on_status(self.status)


__all__ = ["MeasurementService", "MeasurementFailed", "ClientStatus", "settings_tree", "apply_setting",
           "check_reply_fits", "reply_size", "edit_path", "kind_of", "read_edit",
           "refusal", "READONLY_FIELDS"]
