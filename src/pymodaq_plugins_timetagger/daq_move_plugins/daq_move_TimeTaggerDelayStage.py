"""The optical delay stage of the simulator's Hong-Ou-Mandel set-up (``sim:hom``), as an actuator in ps."""
from pymodaq.control_modules.move_utility_classes import main

from pymodaq_plugins_timetagger.tagger_actuator import TaggerActuatorBase, actuator_params
from pymodaq_plugins_timetagger.hardware.errors import TaggerError

#: travel of the simulated stage, ps of optical delay (chosen: ±1 ns is ±15 cm of a double-pass stage)
TRAVEL_PS = 1000.0


class DAQ_Move_TimeTaggerDelayStage(TaggerActuatorBase):
    """Moves the delay between the two photons of the simulated HOM set-up (only on a simulated tagger opened as
    ``sim:hom``): with a Coincidences viewer on the same controller ID, DAQ_Scan rehearses a HOM dip."""

    _axis_names = ["delay"]
    _epsilon = 1e-3
    params = actuator_params([], _axis_names)

    def _on_opened(self):
        self._source()

    def _source(self):
        from pymodaq_plugins_timetagger.hardware.simulator.photon_pairs import hom_source
        if not self.controller.simulated:
            raise TaggerError("the simulated delay stage moves the simulator's HOM set-up: open 'sim:hom'")
        try:
            return hom_source(self.controller.tagger)
        except RuntimeError as e:
            raise TaggerError(str(e)) from None

    def commit_settings(self, param):
        pass

    def _read_ps(self):
        return self._source().delay_ps

    def _write_ps(self, value_ps):
        if abs(value_ps) > TRAVEL_PS:
            raise TaggerError(f"delay {value_ps:g} ps is beyond the stage's travel of ±{TRAVEL_PS:g} ps")
        self._source().delay_ps = float(value_ps)


if __name__ == "__main__":
    main(__file__)
