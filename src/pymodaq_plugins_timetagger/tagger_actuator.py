"""What the Time Tagger actuator plugins share: the tagger, opened here (Master) or a viewer's (Slave, same
controller ID), one value in ps per actuator, refusals shown to the user and the position left unchanged."""
from __future__ import annotations

from pymodaq.control_modules.move_utility_classes import DAQ_Move_base, DataActuatorType, comon_parameters_fun
from pymodaq.utils.data import DataActuator
from pymodaq_utils.logger import get_module_name, set_logger
from pymodaq_utils.utils import ThreadCommand

from .hardware.access import TaggerHandle, open_tagger
from .hardware.errors import TaggerError
from .utils import config_value

logger = set_logger(get_module_name(__file__))


def actuator_params(extra: list, axis_names: list) -> list:
    return [{"title": "Tagger address:", "name": "address", "type": "str",
             "value": str(config_value("tagger", "address", default="auto")),
             "tip": "used by a Master only; a Slave uses the tagger of the Master with the same controller ID"},
            {"title": "Device:", "name": "device", "type": "str", "value": "", "readonly": True},
            *extra] + comon_parameters_fun(axis_names=axis_names)


class TaggerActuatorBase(DAQ_Move_base):
    """A subclass states ``_read_ps()``, ``_write_ps(value)`` (raising TaggerError when refused) and its limits."""

    _controller_units = "ps"
    data_actuator_type = DataActuatorType.DataActuator
    is_multiaxes = False
    _epsilon = 0.5

    def ini_attributes(self):
        self.controller: TaggerHandle | None = None

    # --- to override -----------------------------------------------------------------------------------
    def _on_opened(self) -> None:
        """Check that this actuator works on the tagger opened (raise TaggerError naming why not)."""

    def _read_ps(self) -> float:
        raise NotImplementedError

    def _write_ps(self, value_ps: float) -> None:
        raise NotImplementedError

    # --- PyMoDAQ API -----------------------------------------------------------------------------------
    def ini_stage(self, controller=None):
        try:
            if self.is_master:
                self.controller = open_tagger(self.settings["address"])
            elif controller is None:
                return "this actuator is a Slave but no Master has opened a Time Tagger with its controller ID", \
                    False
            else:
                self.controller = controller
            self.settings.child("device").setValue(self.controller.description)
            self._on_opened()
            return self.controller.description, True
        except TaggerError as e:
            self.close()
            return f"{type(self).__name__}: {e}", False

    def get_actuator_value(self):
        return self.get_position_with_scaling(DataActuator(data=float(self._read_ps()), units="ps"))

    def move_abs(self, value):
        value = self.check_bound(value)
        self.target_value = value
        self._move_to(self.set_position_with_scaling(value))

    def move_rel(self, value):
        value = self.check_bound(self.current_value + value) - self.current_value
        target = value + self.current_value
        self.target_value = target
        self._move_to(self.set_position_with_scaling(target))

    def move_home(self):
        home = DataActuator(data=0.0, units="ps")
        self.target_value = home
        self._move_to(home)
        self.move_done(self.get_actuator_value())   # PyMoDAQ polls no homing: say it is done

    def stop_motion(self):
        self.move_done()

    def close(self):
        if self.controller is not None and self.is_master:
            self.controller.close()
        self.controller = None

    def _move_to(self, value: DataActuator) -> None:
        try:
            self._write_ps(float(value.value()))
        except TaggerError as e:
            # refused: nothing changed; the position stays where it is and the user reads why
            self.emit_status(ThreadCommand("Update_Status", [f"{type(self).__name__}: {e}", "log"]))
            self.target_value = self.get_actuator_value()
