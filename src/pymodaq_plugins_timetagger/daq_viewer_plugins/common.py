"""What the four Time Tagger viewer plugins share: settings tree, tagger sharing, acquisition, errors.

A plugin subclass only states its measurement ``kind``, its measurement parameters and how they map to
the settings of :mod:`pymodaq_plugins_timetagger.runs`; everything else lives here once.

How a grab works: ``grab_data`` starts one acquisition in a helper thread and returns, so PyMoDAQ's
worker loop stays responsive (``stop`` is immediate). The helper thread calls the Qt-free
:class:`~pymodaq_plugins_timetagger.runs.Run`; its result comes back through a queued Qt signal to the
plugin's own thread, which emits the data and updates the read-back settings. Each grab emits exactly
one dataset, or, on failure, a status message naming the cause and no data.

Acquisition modes:

* ``per grab`` - clear, ``startFor(integration_s × Naverage)``, wait: the data of exactly that window
  (what DAQ_Scan needs; Naverage windows are averaged by integrating them together, which for counts is
  exactly the average).
* ``accumulate`` - the measurement keeps running across grabs; each grab waits ``integration_s`` and shows
  everything since the last clear (the **clear** button, or any change of settings).

Sharing one tagger: the plugin whose ``controller_status`` is Master opens the tagger at ``address``;
Slaves with the same ``controller_ID`` use the Master's open tagger (PyMoDAQ passes it to
``ini_detector``) and never free it.
"""
from __future__ import annotations

import os
import time

import numpy as np

from pymodaq.control_modules.viewer_utility_classes import comon_parameters
from pymodaq_utils.utils import ThreadCommand
from pymodaq.utils.data import DataFromPlugins, DataToExport
from pymodaq_utils.logger import get_module_name, set_logger

from ..hardware.access import TaggerHandle, open_tagger
from ..compat import ThreadStatus
from ..hardware.errors import TaggerError
from ..hardware.inputs import configure_input, input_channels, read_input, trigger_was_clamped
from .. import __version__
from .. import settings as declared
from ..hardware.errors import AcquisitionAborted, SettingsError
from .. import virtual_inputs
from ..analysis.figures import G2_CORRECTED, G2_FIT, G2_PULSED, LIFETIME_FIT
from ..runs import Result, Run, check_settings, make_run, make_settings
from ..settings import DEFAULT_TIMEOUT_MARGIN_S, MODE_ACCUMULATE, MODE_PER_GRAB, printable
from ..virtual_inputs import VirtualDefinition
from ..dataset import result_to_data
from ..utils import config_value
from .async_viewer import AsyncViewerBase
from .data import to_pymodaq
from . import remote_server as remote

logger = set_logger(get_module_name(__file__))

#: input channels shown before the device is known (the Ultra/TT20 standard); more are added for 18
DEFAULT_N_INPUTS = 8


#: the read-only setting showing why the last setting or grab was refused or failed ('' after a success)
LAST_ERROR = "last_error"
LAST_ERROR_TIP = "why the last setting or grab was refused or failed; cleared by the next success"

#: name of the optional 0D dataset holding each grab's capture duration
DURATION_DATA = "capture duration"
#: its label: the unit in the name, as the scan file drops units (PyMoDAQ's legend adds "(s)" from the units)
DURATION_LABEL = "duration_s"
#: the setting that adds it (PyMoDAQ 5.3's scan file keeps neither units nor extra attributes of the data,
#: only one array per dataset and label: a dataset is the way to have the duration of every step in the file)
DURATION_CHANNEL_PARAM = {
    "title": "Capture duration data:", "name": "duration_channel", "type": "bool", "value": False,
    "tip": f"add a 0D dataset '{DURATION_DATA}' (label '{DURATION_LABEL}', units s) to every grab: DAQ_Scan then "
           f"saves the actual capture duration of every step"}


def duration_data(seconds: float) -> DataFromPlugins:
    """The optional 0D dataset of a grab's capture duration. The unit is in the label's name too, as the scan file
    drops units; the viewer's legend adds the units to the label ('duration_s (s)')."""
    return DataFromPlugins(DURATION_DATA, data=[np.array([float(seconds)])], dim="Data0D",
                           labels=[DURATION_LABEL], units="s")


def input_group(channel: int) -> dict:
    """Parameters of one input: applied to the device at once and read back."""
    return {"title": f"Input {channel}:", "name": f"ch{channel}", "type": "group", "expanded": False,
            "children": [
                {"title": "Trigger level (V):", "name": "trigger_level_v", "type": "float", "value": 0.5,
                 "step": 0.01, "tip": "comparator threshold; the device rounds it to its DAC step"},
                {"title": "Input delay (ps):", "name": "input_delay_ps", "type": "int", "value": 0},
                {"title": "Dead time (ps):", "name": "deadtime_ps", "type": "int", "value": 0, "min": 0,
                 "tip": "the value shown is the one the device applied (rounded to its clock)"},
                {"title": "Test signal:", "name": "test_signal", "type": "bool", "value": False},
            ]}


def common_params(measurement: list, integration_s: float = 0.1) -> list:
    """The whole settings tree: controller sharing, tagger, acquisition, measurement, inputs."""
    return comon_parameters + [
        {"title": "Tagger address:", "name": "address", "type": "str",
         "value": str(config_value("tagger", "address", default="auto")),
         "tip": "auto | sim | sim:tt20 | sim:x | <serial> | net:host[:port] (read when initializing)"},
        {"title": "Device:", "name": "device", "type": "str", "value": "", "readonly": True},
        {"title": "Last error:", "name": LAST_ERROR, "type": "str", "value": "", "readonly": True,
         "tip": LAST_ERROR_TIP},
        {"title": "Acquisition mode:", "name": "mode", "type": "list", "value": MODE_PER_GRAB,
         "limits": [MODE_PER_GRAB, MODE_ACCUMULATE]},
        {"title": "Integration (s):", "name": "integration_s", "type": "float", "value": integration_s, "min": 1e-6,
         "tip": "per grab: the exact capture window; accumulate: the display refresh period"},
        {"title": "Timeout margin (s):", "name": "timeout_margin_s", "type": "float",
         "value": DEFAULT_TIMEOUT_MARGIN_S, "min": declared.BY_NAME["timeout_margin_s"].lo,
         "max": declared.BY_NAME["timeout_margin_s"].hi},
        DURATION_CHANNEL_PARAM,
        {"title": "Clear accumulated data", "name": "clear", "type": "bool_push", "value": False,
         "label": "Clear"},
        {"title": "Last capture:", "name": "last", "type": "group", "children": [
            {"title": "Duration (s):", "name": "capture_s", "type": "float", "value": 0.0, "readonly": True},
            {"title": "Overflows:", "name": "overflows", "type": "int", "value": 0, "readonly": True},
        ]},
        {"title": "Measurement:", "name": "measurement", "type": "group", "children": measurement},
        {"title": "Inputs:", "name": "inputs", "type": "group", "expanded": False,
         "children": [input_group(c) for c in range(1, DEFAULT_N_INPUTS + 1)]},
        virtual_group(),
        declared.recording_params(),
        remote.remote_group(),
    ]


#: the 0D statistics shown read-only in the settings (group ``results``), by dataset name
SHOWN_FIGURES = (G2_FIT, G2_CORRECTED, G2_PULSED, LIFETIME_FIT)
RESULTS_GROUP = {"title": "Fit results (read-only):", "name": "results", "type": "group", "children": []}
#: the Histogram plugin's measured IRF: the last histogram becomes the lifetime fit's instrument response
IRF_GROUP = {"title": "Measured IRF:", "name": "irf", "type": "group", "children": [
    {"title": "Use the last histogram as IRF", "name": "irf_store", "type": "bool_push", "value": False,
     "label": "Store", "tip": "capture the IRF alone (scattered laser), grab once, then store it"},
    {"title": "Back to a Gaussian IRF", "name": "irf_clear", "type": "bool_push", "value": False,
     "label": "Clear"},
    {"title": "IRF in use:", "name": "irf_state", "type": "str", "value": "Gaussian (fitted or set)",
     "readonly": True}]}


def virtual_group() -> dict:
    """The tagger's virtual channels (declared in settings.VIRTUAL_SETTINGS; shared by the Master's Slaves)."""
    return {"title": "Virtual channels:", "name": "virtual", "type": "group", "expanded": False,
            "children": declared.virtual_params() + [
                {"title": "Defined:", "name": "virtual_defined", "type": "str", "value": "none", "readonly": True,
                 "tip": "the virtual channels' numbers, to use as channels of any measurement"}]}


def kind_params(kind: str) -> list:
    """The whole settings tree of the plugin of ``kind``: its measurement parameters and integration default
    from the declarations of :mod:`..settings` (and, where it fits, the read-only fit results)."""
    extra = {"correlation": [RESULTS_GROUP], "histogram": [IRF_GROUP, RESULTS_GROUP]}.get(kind, [])
    return common_params(declared.plugin_params(kind, DEFAULT_N_INPUTS),
                         integration_s=declared.default(kind, "integration_s")) + [dict(g) for g in extra]


class TimeTaggerViewerBase(AsyncViewerBase):
    """Base of the Time Tagger viewer plugins (see the module documentation)."""

    kind = ""                   # the settings.KINDS entry of the subclass (runs.MEASUREMENTS)
    params = common_params([])

    # ------------------------------------------------------------------ to override
    def measurement_settings(self, edited: tuple | None = None):
        """The runs settings object built from this plugin's parameters (as declared in settings.py), each value
        checked (SettingsError). ``edited``: (path, value) of an edit not applied yet, with the values applied
        of every other parameter (not what the tree shows: another edit may be on its way in)."""
        get, value = self.measurement_values(edited)
        return make_settings(self.kind, **declared.from_plugin(self.kind, get, value(("integration_s",))))

    #: the measurement's groups of channel ticks (measurement/<group>/ch<N>)
    channel_groups = ("channels",)

    def measurement_values(self, edited: tuple | None = None):
        """(get(name) of a measurement parameter, value(path) of any parameter): the values applied, but
        ``edited`` = (path, value) of an edit not applied yet (see :meth:`measurement_settings`)."""
        m = self.settings.child("measurement")

        def value(path):
            if edited is not None and path == edited[0]:
                return edited[1]
            if edited is not None and path in self._applied:
                return self._applied[path]
            return self.settings.child(*path).value()

        def get(name):
            if name in self.channel_groups:
                return tuple(int(ch.name()[2:]) for ch in m.child(name).children()
                             if value(("measurement", name, ch.name())))
            return value(("measurement", name))
        return get, value

    def checked_settings(self, s):
        """``s`` checked as a whole against the opened device (SettingsError)."""
        return check_settings(s, self.controller)

    def on_device_opened(self) -> None:
        """Adapt the measurement parameters to the device (e.g. more channels)."""

    # ------------------------------------------------------------------ PyMoDAQ API
    def ini_attributes(self):
        super().ini_attributes()
        self.controller: TaggerHandle | None = None
        self._run: Run | None = None
        self._naverage = 1
        self._applied: dict = {}  # path of a parameter in the tree -> the value the measurement runs with
        self._link = remote.RemoteLink(self)
        self._queued_remote: remote.RemoteRequest | None = None  # waits for the local grab in flight
        self._queued_local: int | None = None                    # a local grab's Naverage, waits for a remote one
        self._link_status = ""
        self._recorder = None                                     # recording.Recorder while Record is ticked

    def open_controller(self, controller) -> bool:
        """The Master opens the tagger at the address set; a Slave takes its Master's (False: there is none)."""
        if self.is_master:
            self.controller = open_tagger(self.settings["address"])
        elif controller is None:
            return False
        else:
            self.controller = controller
        return True

    def ini_detector(self, controller=None):
        try:
            if not self.open_controller(controller):
                return self.init_failed("this plugin is a Slave but no Master has opened a Time Tagger "
                                        "with the same controller ID", "device")
            handle = self.controller
            self.settings.child("device").setValue(handle.description)
            self._sync_inputs_from_device()
            self.on_device_opened()
            self._show_virtual()
            self._run = make_run(handle, self.kind, self.measurement_settings())
            self._run.shares_window = True   # grabbed with the Master's other viewers: one window (windows.py)
            self._apply_recording()
            self._remember_applied()
            self.release_with_thread()
            if self.settings[remote.GROUP, "connect"]:
                self._connect_remote()
            if handle.simulated:
                logger.info("%s uses the simulator: %s", self.kind, handle.description)
            return handle.description, True
        except TaggerError as e:
            self.release()
            return self.init_failed(f"Time Tagger {self.kind}: {e}", "device")

    def commit_settings(self, param):
        parent = param.parent().name() if param.parent() is not None else ""
        if parent == remote.GROUP:
            self._commit_remote(param)
            return
        own = self.own_param(param)
        if own is None:
            return
        try:
            if self._edit(own, own.value()):
                self._succeeded()
                if self._link.running:
                    self._link.push_info_xml(self.settings.childPath(own))
        except TaggerError as e:  # SettingsError included: refused, nothing changed
            self.setting_refused(param, e)

    def _edit(self, param, value) -> bool:
        """Apply ``value`` to the plugin's own ``param``: the user's edit (already in the tree) or the server's.

        A measurement or acquisition setting is checked by its declaration (settings.check_plugin), then the
        measurement as a whole (at least one channel, the device's inputs, the reply's size); only then is it
        shown and applied. The value already applied changes nothing (no restart). True if the measurement now
        runs with a new value. Refused: SettingsError; the parameter shows the value applied again and nothing
        else changed (not the run, not the device).
        """
        path = tuple(self.settings.childPath(param))
        if path not in self._applied or self.controller is None:
            return self._apply_param(param)
        applied = self._applied[path]
        if path[0] == "virtual":  # the tagger's virtual channels, checked as they are built (virtual_inputs.py)
            try:
                self._apply_virtual()
            except TaggerError:
                self._put(param, applied)
                raise
            self._applied[path] = value
            return True
        try:
            value = declared.check_plugin(self.kind, path, value)
            if path in (("mode",), ("timeout_margin_s",)):
                new = None
                changed = value != applied
            else:
                new = self.checked_settings(self.measurement_settings(edited=(path, value)))
                declared.check_reply_fits(new)
                changed = new != self._run.settings
            if changed and new is not None:
                self._restart(new_settings=new)  # the device refusing them leaves the run as it was
            elif changed and path == ("mode",):
                self._restart()
            self._put(param, value if changed else applied)
        except SettingsError:
            self._put(param, applied)
            raise
        if changed:
            self._applied[path] = value
        return changed

    @staticmethod
    def _put(param, value) -> None:
        if param.value() != value:
            param.setValue(value)

    def _apply_param(self, param) -> bool:
        """Apply one setting that is not the measurement's (clear, inputs...); True if the measurement now runs
        with it. Raises TaggerError when refused."""
        name = param.name()
        parent = param.parent().name() if param.parent() is not None else ""
        if parent == declared.RECORDING_GROUP:
            if name in ("record", "directory"):
                self._apply_recording()
            return False
        if name == "clear":
            if param.value():
                self._restart(clear_only=True)
                self.settings.child("clear").setValue(False)
            return False
        if parent == "results" or name in ("irf_state",):  # read-only figures shown by this plugin
            return False
        if name in ("irf_store", "irf_clear"):
            if param.value():
                self._set_irf(store=name == "irf_store")
                param.setValue(False)
            return False
        if name in ("device", "capture_s", "overflows", "address", "duration_channel", LAST_ERROR, "virtual_defined"):
            if name == "address" and self.controller is not None:
                self.show_status(f"the new address {param.value()!r} takes effect at the next "
                            f"initialization")
            return False
        if self.controller is None:
            return False
        if parent == "virtual":
            self._apply_virtual()
        elif parent.startswith("ch") and param.parent().parent() is not None \
                and param.parent().parent().name() == "inputs":
            self._apply_input(int(parent[2:]))
            return True
        return False

    def setting_refused(self, param, error: Exception, log: bool = True) -> None:
        """Say why the setting ``param`` was refused: status bar (as PyMoDAQ shows a plugin's status), the
        *Last error* line (until the next success) and, with ``log``, the log."""
        title = (param.title() or param.name()).rstrip().rstrip(":")
        self._last_error(f"{title}: {error}", log)

    def _last_error(self, text: str, log: bool = True) -> None:
        text = printable(text)
        if self._show_last_error(text):
            if log:
                logger.warning(text)
            self.emit_status(ThreadCommand(ThreadStatus.UPDATE_STATUS, text))

    def _show_last_error(self, text: str) -> bool:
        try:
            if self.settings[LAST_ERROR] != text:
                line = self.settings.child(LAST_ERROR)
                line.setValue(text)
                line.setOpts(tip=text or LAST_ERROR_TIP)  # the whole text where the column cuts it
            return True
        except (KeyError, RuntimeError):  # closed meanwhile
            return False

    def report_failure(self, text: str) -> None:
        super().report_failure(text)
        self._show_last_error(printable(text))

    def _succeeded(self) -> None:
        """A setting applied or a grab delivered: the *Last error* line is cleared."""
        self._show_last_error("")

    def grab_data(self, Naverage=1, **kwargs):
        if self._run is None:
            self.report_failure("the Time Tagger is not initialized: initialize the detector first")
            return
        naverage = max(1, int(Naverage))
        if self._queued_remote is not None or (self.job_running() and self._job_owner is not None):
            self._queued_local = naverage  # after the server's request (in flight, or waiting for its turn)
            self.after_job()
            return
        self._naverage = naverage
        self._start_acquisition()

    def stop(self):
        self._queued_local = None
        if self._job_owner is None:  # the server's request in flight is not the user's to stop
            self.abort_job()
        if self._run is not None and self._run.accumulating:
            try:
                self._run.stop()
            except TaggerError as e:  # a tagger gone at this point must not break the stop
                logger.warning("stopping %s: %s", self.kind, e)
        self.restate_failure()
        return ""

    def close(self):
        self._disconnect_remote()
        self.stop()
        self.abort_job()  # the server's request in flight too: nobody waits for it any more
        if self._run is not None:
            try:
                self._run.close()
            except TaggerError as e:
                logger.warning("closing %s: %s", self.kind, e)
            self._run = None
        self._stop_recording()
        self.release()
        self.close_outlet()

    def release(self) -> None:
        if self.controller is not None and self.is_master:
            self.controller.close()
        self.controller = None

    # ------------------------------------------------------------------ applied settings
    def _applied_params(self):
        """The settings that make up the measurement (what a refusal puts back, what an edit is checked with)."""
        yield from (self.settings.child(n) for n in ("mode", "integration_s", "timeout_margin_s"))
        for p in self.settings.child("measurement").children():
            yield from (p.children() if p.hasChildren() else [p])
        yield from (p for p in self.settings.child("virtual").children() if p.name() != "virtual_defined")

    def _remember_applied(self) -> None:
        self._applied = {tuple(self.settings.childPath(p)): p.value() for p in self._applied_params()}

    # ------------------------------------------------------------------ acquisition
    def _start_acquisition(self, owner: remote.RemoteRequest | None = None) -> None:
        """Start a grab job: a local one, or (``owner``) the server's request, always one exact window."""
        run = self._run
        integration = float(self.settings["integration_s"])
        timeout_margin = float(self.settings["timeout_margin_s"])
        accumulate = self.settings["mode"] == MODE_ACCUMULATE and owner is None
        naverage = self._naverage if owner is None else 1
        kind = self.kind
        if owner is not None:
            owner.deadline = time.monotonic() + integration + timeout_margin + remote.ANSWER_SLACK_S

        def work():
            try:
                if accumulate:
                    return run.accumulate(integration)
                t = integration * naverage
                result = run.acquire(t, timeout_s=t + timeout_margin)
                if naverage > 1:
                    _scale_counts(result, 1.0 / naverage)
                    result.metadata["naverage"] = naverage
                return result
            except TaggerError:  # AcquisitionAborted included
                raise
            except Exception as e:  # a bug: shown as an error of this grab, logged with its traceback
                logger.exception("bug in the %s acquisition", kind)
                raise TaggerError(f"{kind}: internal error {type(e).__name__}: {e}") from e

        self.start_job(work, abort=run.abort, owner=owner)

    def _restart(self, new_settings=None, clear_only=False) -> None:
        """Apply settings and start the window over (a grab in flight, local or the server's, is re-run with
        them)."""
        was_pending = self.job_running()
        owner = self._job_owner
        self.abort_job()
        try:
            if new_settings is not None:
                self._run.update(new_settings)  # refused (SettingsError): the run is as it was
            if self._run.accumulating:
                if clear_only:
                    self._run.clear()
                else:  # new settings: the live view starts over with them at the next grab
                    self._run.stop()
        finally:
            if was_pending:
                self._start_acquisition(owner)

    def on_job_result(self, result: Result) -> None:
        self._succeeded()
        self.dte_signal.emit(self._shown(result, result_to_data(result)))

    def _shown(self, result: Result, data) -> DataToExport:
        """Show a result's capture figures; the PyMoDAQ data of ``data`` (its conversion) to emit."""
        md = result.metadata
        self.settings.child("last", "capture_s").setValue(md.get("capture_duration_s", 0.0))
        self.settings.child("last", "overflows").setValue(md.get("overflows", 0))
        if md.get("overflows", 0):
            self.show_status(f"WARNING: {md['overflows']} overflow(s) during the capture of {self.kind}: "
                        f"time tags were lost (the input rate exceeds the transfer rate)", error=True)
        self._show_figures(result)
        dte = to_pymodaq(self._title, data)
        if self.settings["duration_channel"]:
            dte.append(duration_data(md.get("capture_duration_s", float("nan"))))
        if "recording_file" in md or "recording_error" in md:
            self._show_recorded(md)   # its 0D dataset is a companion of the result (runs.recording_result)
        return dte

    def _show_figures(self, result: Result) -> None:
        """The fit parameters read-only in the settings; a fit that failed says so (its channels are NaN)."""
        self._last_result = result
        try:
            group = self.settings.child("results")
        except KeyError:
            return
        shown = [c for c in result.companions if c.name in SHOWN_FIGURES]
        wanted = {f"{c.name}: {label}": float(d[0]) for c in shown for label, d in zip(c.labels, c.data)}
        names = {t: "r" + "".join(ch if ch.isalnum() else "_" for ch in t) for t in wanted}
        for child in list(group.children()):
            if child.name() not in names.values():
                group.removeChild(child)
        for title, value in wanted.items():
            if names[title] in [c.name() for c in group.children()]:
                group.child(names[title]).setValue(value)
            else:
                group.addChild({"title": title, "name": names[title], "type": "float", "value": value,
                                "readonly": True, "decimals": 6})
        for c in shown:
            if c.metadata.get("status"):
                self.show_status(f"{self.kind} {c.name}: {c.metadata['status']} (its channels are NaN)",
                                 error=True)

    def _set_irf(self, store: bool) -> None:
        """Store the last histogram as the lifetime fit's IRF (or go back to a Gaussian one)."""
        if self._run is None or not hasattr(self._run, "set_irf"):
            return
        last = getattr(self, "_last_result", None)
        if store and last is None:
            self.show_status("no histogram yet: grab the IRF once, then store it", error=True)
            return
        try:
            self._run.set_irf(last.data[0] if store else None)
        except TaggerError as e:
            self.show_status(f"IRF: {e}", error=True)
            return
        state = f"measured ({int(last.data[0].sum())} counts)" if store else "Gaussian (fitted or set)"
        self.settings.child("irf", "irf_state").setValue(state)
        self.show_status(f"lifetime fit IRF: {state}")

    # ------------------------------------------------------------------ recording of the time tags (recording/)
    def _apply_recording(self) -> None:
        """Start or stop recording as the Record box says (a new directory: a new session)."""
        g = self.settings.child(declared.RECORDING_GROUP)
        was_pending, owner = self.job_running(), self._job_owner
        self.abort_job()  # the window in flight is measured again, recorded or not as now asked
        self._stop_recording()
        if g["record"] and self._run is not None:
            from ..recording.recorder import Recorder  # lazy: h5py only when recording
            self._recorder = Recorder(os.path.expanduser(g["directory"]), self.kind)
            self._run.recorder = self._recorder
            g.child("status").setValue(f"recording each grab (per grab mode) into {self._recorder.directory}")
        else:
            g.child("status").setValue("not recording")
        if was_pending:
            self._start_acquisition(owner)

    def _stop_recording(self) -> None:
        if self._recorder is not None:
            if self._run is not None:
                self._run.recorder = None
            if not self._recorder.close():
                self.show_status(f"recording: the last files were not all written: {self._recorder.status()}",
                                 error=True)
            self._recorder = None

    def _show_recorded(self, md: dict) -> None:
        """Show a grab's recording figures in the read-only settings, and any loss or error in the status bar."""
        g = self.settings.child(declared.RECORDING_GROUP)
        if "recording_error" in md:
            g.child("status").setValue(md["recording_error"])
            self.show_status(md["recording_error"], error=True)
        if "recording_file" in md:
            g.child("last_file").setValue(md["recording_file"])
            g.child("tags").setValue(md["recording_tags"])
            g.child("tags_lost").setValue(md["recording_tags_lost"])
            if md["recording_tags_lost"] or md["recording_tags_lost_unknown"]:
                more = (" (and more, not counted: the stream buffer was full)"
                        if md["recording_tags_lost_unknown"] else "")
                self.show_status(f"WARNING: recording: {md['recording_tags_lost']} tag(s) lost{more} in "
                                 f"{md['recording_file']}", error=True)

    # ------------------------------------------------------------------ the remote server (remote_server.py)
    def remote_request(self, req: remote.RemoteRequest) -> None:
        """The server asks for data (the link's thread waits): now, or after the local grab in flight."""
        if self._run is None:
            req.finish(error=TaggerError(f"{self.kind}: the Time Tagger is not initialized on the remote PC"))
        elif self.job_running():
            if self._queued_remote is not None:
                self._queued_remote.finish(error=TaggerError("superseded by a newer request"))
            self._queued_remote = req
            ahead = float(self.settings["integration_s"]) * max(self._naverage, 1)
            req.deadline = time.monotonic() + ahead + 2 * float(self.settings["timeout_margin_s"]) \
                + float(self.settings["integration_s"]) + 2 * remote.ANSWER_SLACK_S
        else:
            self._start_acquisition(req)

    def remote_cancel(self, req: remote.RemoteRequest) -> None:
        """The link gave the request up (stopped, lost, out of time): do not measure it, or stop measuring it."""
        if self._queued_remote is req:
            self._queued_remote = None
        elif self._job_owner is req and self.job_running():
            self.abort_job()
            self.after_job()
        req.finish(error=AcquisitionAborted("cancelled"))

    def on_owned_outcome(self, owner, outcome) -> None:
        if isinstance(outcome, Exception):
            if not isinstance(outcome, AcquisitionAborted):
                self.show_status(f"remote request: {outcome}", error=True)
            owner.finish(error=outcome)
            return
        try:
            data = result_to_data(outcome)
            owner.finish(data)
            self.dte_signal_temp.emit(self._shown(outcome, data))  # shown here, not a local grab's data
        except Exception as e:  # never into the Qt event loop; the link gets the error
            logger.exception("the remote request's data")
            owner.finish(error=TaggerError(f"{self.kind}: {e}"))

    def after_job(self) -> None:
        """The server's request that waited goes first, then the local grab that waited for it (nothing while a
        job runs: one started while the last one's outcome was handled, or the one in flight)."""
        if self._run is None or self.job_running():
            return
        if self._queued_remote is not None:
            req, self._queued_remote = self._queued_remote, None
            if not req.cancelled:
                self._start_acquisition(req)
                return
        if self._queued_local is not None:
            self._naverage, self._queued_local = self._queued_local, None
            self._start_acquisition()

    def remote_edit(self, path: list[str], value, name: str | None = None) -> tuple[list[str], str]:
        """A setting edited on the server (``name``: the one its XML names): checked and applied here as a local
        edit (:meth:`_edit`); the XML of the value applied. Refused: SettingsError (the link tells the server and
        logs it, rate-limited), shown here in the status bar and the *Last error* line, nothing changed."""
        try:
            if name is not None and path[-1] != name:
                raise SettingsError(f"the XML sets {name!r}, not the setting at that path")
            param = remote.mirrored_param(self.settings, path)
            changed = self._edit(param, value)
        except TaggerError as e:
            self._last_error(f"set by the server: {'/'.join(path)}: {e}", log=False)
            raise SettingsError(f"{'/'.join(path)}: {e}") from None
        if changed:
            self._succeeded()
            self.show_status(f"{'/'.join(path)} = {param.value()!r} (set by the server)")
        return remote.mirrored_xml(self.settings, path)

    def remote_infos(self) -> dict[str, str]:
        h = self.controller
        info = {"name": f"TimeTagger {self.kind} (viewer {self._title})",
                "software": f"pymodaq_plugins_timetagger {__version__}", "measurement": self.kind}
        if h is not None:
            info.update(device=h.description, serial=str(h.serial), model=str(h.model),
                        simulated=str(bool(h.simulated)))
        return info

    def _commit_remote(self, param) -> None:
        name = param.name()
        if name == "status":
            return
        if name == "connect":
            if param.value():
                self._connect_remote()
            else:
                self._disconnect_remote()
        elif self._link.running:  # host, port, dialect, secret: connect again with them
            self._disconnect_remote()
            self._connect_remote()

    def _connect_remote(self) -> None:
        if self._link.running:
            return
        if self.controller is None:
            self._set_link_status("will connect once the detector is initialized")
            return
        try:
            where = self._link.start(on_status=lambda text: self.post_in_thread(
                lambda: self._link.running and self._set_link_status(text)),  # not once it is closed
                on_end=self._link_ended)
        except (ValueError, OSError) as e:
            self._set_link_status(f"not connected: {e}", error=True)
            self.settings.child(remote.GROUP, "connect").setValue(False)
            return
        self._set_link_status(f"connecting to {where}")

    def _link_ended(self, link) -> None:
        """The link's thread ended (Quit from the server, or Disconnect): untick Connect if it was the server."""
        def ended():
            if self._link.link is link:  # the server said Quit
                self._link.stop()
                self.settings.child(remote.GROUP, "connect").setValue(False)
                self._set_link_status("not connected: the server asked to quit")
        if not self._link.closing.is_set():
            self.post_in_thread(ended)

    def _disconnect_remote(self) -> None:
        if self._link.link is None:
            return
        if not self._link.stop():
            logger.warning("%s: the remote server's link did not end within its timeout", self.kind)
        if self._queued_remote is not None:
            self._queued_remote.finish(error=AcquisitionAborted("disconnected"))
            self._queued_remote = None
        self._set_link_status("not connected")

    def _set_link_status(self, text: str, error: bool = False) -> None:
        try:
            self.settings.child(remote.GROUP, "status").setValue(text)
        except RuntimeError:  # the module was closed meanwhile
            return
        state = text.split(" | ")[0]
        if state != self._link_status or error:
            self._link_status = state
            self.show_status(f"remote server: {text}", error=error or "refused" in text)

    # ------------------------------------------------------------------ inputs and channels
    def _sync_inputs_from_device(self) -> None:
        """Show the device's current input settings (the user's trigger levels are never reset)."""
        tagger = self.controller.tagger
        chans = input_channels(tagger)
        group = self.settings.child("inputs")
        for c in chans:
            if f"ch{c}" not in [ch.name() for ch in group.children()]:
                group.addChild(input_group(c))
        for child in list(group.children()):
            if int(child.name()[2:]) not in chans:
                group.removeChild(child)
        for c in chans:
            self._show_input(read_input(tagger, c))

    def _show_input(self, state) -> None:
        g = self.settings.child("inputs", f"ch{state.channel}")
        g.child("trigger_level_v").setValue(state.trigger_level_v)
        g.child("input_delay_ps").setValue(state.input_delay_ps)
        g.child("deadtime_ps").setValue(state.deadtime_ps)
        g.child("test_signal").setValue(state.test_signal)

    def _apply_input(self, channel: int) -> None:
        g = self.settings.child("inputs", f"ch{channel}")
        try:
            state = configure_input(self.controller.tagger, channel,
                                    trigger_level_v=g["trigger_level_v"], input_delay_ps=g["input_delay_ps"],
                                    deadtime_ps=g["deadtime_ps"], test_signal=g["test_signal"])
            if trigger_was_clamped(g["trigger_level_v"], state):  # the vendor clamps, it does not refuse
                self.show_status(f"input {channel}: the trigger level {g['trigger_level_v']:g} V is out of "
                                 f"the device's range: it is {state.trigger_level_v:g} V", error=True)
        finally:
            # show what the device really has, whether it accepted the value or not
            self._show_input(read_input(self.controller.tagger, channel))
        self._restart()

    def _apply_virtual(self) -> None:
        """Build the virtual channels the group defines on the shared tagger; offer them as channels."""
        definition = VirtualDefinition.from_values(lambda n: self.settings["virtual", n])
        virtual_inputs.of(self.controller).apply(self.controller, definition)
        self._show_virtual()
        if self._run is not None:
            self._restart()

    def _show_virtual(self) -> None:
        """Show the tagger's virtual channels (a Slave: those its Master defined) and offer them as channels."""
        v = virtual_inputs.of(self.controller)
        g = self.settings.child("virtual")
        for s in declared.VIRTUAL_SETTINGS:
            value = getattr(v.definition, s.name)
            g.child(s.name).setValue(",".join(map(str, value)) if isinstance(value, tuple) else value)
        g.child("virtual_defined").setValue(v.describe())
        if "channels" in [c.name() for c in self.settings.child("measurement").children()]:
            group = self.settings.child("measurement", "channels")
            names = [ch.name() for ch in group.children()]
            for label, c in v.channels.items():
                if f"ch{c}" not in names:
                    group.addChild({"title": f"ch{c} ({label})", "name": f"ch{c}", "type": "bool", "value": False})

    def selected_channels(self) -> tuple[int, ...]:
        group = self.settings.child("measurement", "channels")
        return tuple(int(ch.name()[2:]) for ch in group.children() if ch.value())

    def extend_channel_selector(self) -> None:
        """Offer every input of the device in the measurement's channel selector."""
        group = self.settings.child("measurement", "channels")
        names = [ch.name() for ch in group.children()]
        for c in input_channels(self.controller.tagger):
            if f"ch{c}" not in names:
                group.addChild({"title": f"ch{c}", "name": f"ch{c}", "type": "bool", "value": False})


def _scale_counts(result: Result, factor: float) -> None:
    """Averages of count data over several windows (rates and g2 are already averages)."""
    if result.units == "counts":
        result.data = [d * factor for d in result.data]
        if result.errors is not None:  # the error of the average: the total's, scaled the same way
            result.errors = [e * factor for e in result.errors]


def result_to_dte(title: str, result: Result) -> DataToExport:
    """A runs Result (and its companions) as PyMoDAQ data: the same conversion as over the bridge."""
    return to_pymodaq(title, result_to_data(result))


__all__ = ["TimeTaggerViewerBase", "common_params", "kind_params", "result_to_dte", "duration_data",
           "DURATION_CHANNEL_PARAM",
           "MODE_PER_GRAB", "MODE_ACCUMULATE"]
