"""What the marker-driven viewer plugins (image, pulsed) share: the Time Tagger viewer base with a grab that is
one frame (image) or a number of whole sweeps (pulsed) instead of a fixed window.

Tagger sharing (Master/Slave), the inputs, refused settings shown as refused, the grab in a helper thread and its
errors in the status bar: as for every Time Tagger viewer (:mod:`.common`). Not here (yet): the accumulate mode and
the link to a remote TCP server.
"""
from __future__ import annotations

from pymodaq.control_modules.viewer_utility_classes import comon_parameters
from pymodaq_utils.logger import get_module_name, set_logger

from .. import imaging
from .. import settings as declared
from ..hardware.errors import TaggerError
from ..utils import config_value
from .common import DEFAULT_N_INPUTS, TimeTaggerViewerBase, input_group
from .data import to_pymodaq

logger = set_logger(get_module_name(__file__))

#: the read-back group: what the last grab measured
LAST = "last"


def marker_params(kind: str, address: str, last: list) -> list:
    """The settings tree of a marker-driven plugin: tagger, the measurement (settings.py), read-backs, inputs."""
    return comon_parameters + [
        {"title": "Tagger address:", "name": "address", "type": "str",
         "value": str(config_value("tagger", "address", default=address)),
         "tip": "auto | sim | sim:confocal | sim:pulsed | <serial> | net:host[:port] (read when initializing)"},
        {"title": "Device:", "name": "device", "type": "str", "value": "", "readonly": True},
        {"title": "Measurement:", "name": "measurement", "type": "group",
         "children": declared.plugin_params(kind, DEFAULT_N_INPUTS)},
        {"title": "Last grab:", "name": LAST, "type": "group", "children": [
            {**p, "readonly": True} for p in last]},
        {"title": "Inputs:", "name": "inputs", "type": "group", "expanded": False,
         "children": [input_group(c) for c in range(1, DEFAULT_N_INPUTS + 1)]},
    ]


class MarkerViewerBase(TimeTaggerViewerBase):
    """Base of the image and pulsed plugins: ``kind`` ('image' or 'pulsed') and ``run_class`` (imaging.py)."""

    run_class = imaging.ImageRun
    channel_groups = ("photon_channels",)

    def measurement_settings(self, edited: tuple | None = None):
        get, _ = self.measurement_values(edited)
        return imaging.make_settings(self.kind, **declared.from_plugin(self.kind, get, 0.0))

    def checked_settings(self, s):
        return imaging.checked_settings(s, self.controller)

    def ini_detector(self, controller=None):
        try:
            if not self.open_controller(controller):
                return self.init_failed("this plugin is a Slave but no Master has opened a Time Tagger "
                                        "with the same controller ID", "device")
            self.settings.child("device").setValue(self.controller.description)
            self._sync_inputs_from_device()
            self._run = self.run_class(self.controller, self.measurement_settings())
            self._remember_applied()
            self.release_with_thread()
            return self.controller.description, True
        except TaggerError as e:
            self.release()
            return self.init_failed(f"Time Tagger {self.kind}: {e}", "device")

    def _apply_param(self, param) -> bool:
        parent = param.parent()
        if parent is not None and parent.name() == LAST:
            return False
        return super()._apply_param(param)

    def _applied_params(self):
        for p in self.settings.child("measurement").children():
            yield from (p.children() if p.hasChildren() else [p])

    def _start_acquisition(self, owner=None) -> None:
        run, kind = self._run, self.kind

        def work():
            try:
                return self.acquire(run)
            except TaggerError:
                raise
            except Exception as e:  # a bug: shown as an error of this grab, logged with its traceback
                logger.exception("bug in the %s acquisition", kind)
                raise TaggerError(f"{kind}: internal error {type(e).__name__}: {e}") from e

        self.start_job(work, abort=run.abort)

    def acquire(self, run):
        """One grab's measurement, in the job's thread."""
        return run.acquire()

    def on_job_result(self, result) -> None:
        for name, value in self.read_backs(result).items():
            self.settings.child(LAST, name).setValue(value)
        self.dte_signal.emit(to_pymodaq(self._title, self._run.to_data(result)))

    def read_backs(self, result) -> dict:
        return {}


__all__ = ["MarkerViewerBase", "marker_params"]
