"""The input delay of one Time Tagger input as an actuator (ps): scan it to find or calibrate a coincidence peak."""
from pymodaq.control_modules.move_utility_classes import main
from pymodaq_utils.utils import ThreadCommand

from pymodaq_plugins_timetagger.tagger_actuator import TaggerActuatorBase, actuator_params
from pymodaq_plugins_timetagger.hardware.errors import TaggerError
from pymodaq_plugins_timetagger.hardware.input_delay import input_delay_range_ps


class DAQ_Move_TimeTaggerInputDelay(TaggerActuatorBase):
    """``setInputDelay`` of the chosen input, within the model's hardware delay range, read back with
    ``getInputDelay``. Share the tagger of a Time Tagger viewer by giving both the same controller ID (the viewer
    Master, this actuator Slave, or the other way round)."""

    _axis_names = ["delay"]
    params = actuator_params([{"title": "Input:", "name": "input_channel", "type": "int", "value": 1, "min": 1},
                              {"title": "Range (ps):", "name": "range_ps", "type": "str", "value": "",
                               "readonly": True}], _axis_names)

    def _on_opened(self):
        lo, hi = input_delay_range_ps(self.controller.tagger, self.settings["input_channel"])
        self.settings.child("range_ps").setValue(f"{lo} .. {hi}")

    def commit_settings(self, param):
        if param.name() == "input_channel" and self.controller is not None:
            try:
                self._on_opened()
            except TaggerError as e:
                self.emit_status(ThreadCommand("Update_Status", [f"input delay: {e}", "log"]))

    def _read_ps(self):
        return self.controller.tagger.getInputDelay(int(self.settings["input_channel"]))

    def _write_ps(self, value_ps):
        ch = int(self.settings["input_channel"])
        lo, hi = input_delay_range_ps(self.controller.tagger, ch)
        delay = int(round(value_ps))
        if not lo <= delay <= hi:
            raise TaggerError(f"input delay {delay} ps of input {ch} is outside the {lo} .. {hi} ps the "
                              f"{self.controller.model} applies in hardware: refused, the delay is unchanged")
        self.controller.tagger.setInputDelay(ch, delay)


if __name__ == "__main__":
    main(__file__)
