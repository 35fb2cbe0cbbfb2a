"""A responder base for the Time Tagger client's link (bridge/link.py's Responder protocol) with no settings of its
own: subclasses give ``answer``. Used by tests and by the benchmark's client process."""
from pymodaq_plugins_timetagger.hardware.errors import SettingsError
from pymodaq_plugins_timetagger.protocol.paramxml import Param, to_xml_string


class BareResponder:
    def answer(self, dim, stop):
        raise NotImplementedError

    def apply_edit(self, path, xml):
        raise SettingsError(f"{'/'.join(path)}: this responder has no settings")

    def applied_xml(self, path):
        return None

    def settings_xml(self):
        return to_xml_string(Param(name="settings", type="group", title="Settings", children=[]))

    def infos(self):
        return {}
