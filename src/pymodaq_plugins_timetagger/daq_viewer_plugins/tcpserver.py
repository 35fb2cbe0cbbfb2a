"""The TCPServer viewer plugins (0D, 1D, 2D): a thin PyMoDAQ layer on the Qt-free bridge server.

On the main PC, a DAQ_Viewer with one of these plugins listens on ``socket_ip:port_id``; the Time
Tagger client (or any client of PyMoDAQ's TCP/IP protocol, in either dialect) dials in. A grab sends
``Send Data xD`` to the chosen client and emits its answer with axes and units intact. No client, a
client that left, or no answer in time: a status message naming the cause, and no data (never mock
data). The connected client's settings are mirrored under *Client settings*; editing one there sends it
to the client (``set_info``), which applies it and answers with the value it applied.
"""
from __future__ import annotations

import dataclasses

import numpy as np
from qtpy.QtCore import Signal, Slot

from pymodaq.control_modules.viewer_utility_classes import comon_parameters
from pymodaq.utils.data import Axis, DataFromPlugins, DataToExport
from pymodaq_gui.parameter import ioxml
from pymodaq_utils.logger import get_module_name, set_logger

from ..bridge import codec
from ..bridge.server import DEFAULT_HOST, DEFAULT_PORT, BridgeError, BridgeServer, parse_allowed
from ..utils import config_value
from .async_viewer import AsyncViewerBase

logger = set_logger(get_module_name(__file__))

FIRST_CONNECTED = "first connected"


def tcpserver_params() -> list:
    return comon_parameters + [
        {"title": "Listen on IP:", "name": "socket_ip", "type": "str",
         "value": str(config_value("bridge", "host", default=DEFAULT_HOST)),
         "tip": "127.0.0.1: this PC only; the LAN address of this PC (or 0.0.0.0) for a remote client"},
        {"title": "Port:", "name": "port_id", "type": "int",
         "value": int(config_value("bridge", "port", default=DEFAULT_PORT)), "min": 0, "max": 65535},
        {"title": "Allowed clients:", "name": "allowed_clients", "type": "str", "value": "",
         "tip": "comma-separated addresses or networks (e.g. 192.168.1.20, 10.0.0.0/24); empty: any"},
        {"title": "Grab timeout (s):", "name": "grab_timeout_s", "type": "float", "value": 10.0, "min": 0.01,
         "tip": "how long a grab waits for the client's data"},
        {"title": "Max. frame (MiB):", "name": "max_frame_mib", "type": "int", "value": 64, "min": 1},
        {"title": "Ask client:", "name": "client", "type": "list", "value": FIRST_CONNECTED,
         "limits": [FIRST_CONNECTED]},
        {"title": "Connected clients:", "name": "clients", "type": "text", "value": "", "readonly": True},
        {"title": "Client settings:", "name": "settings_client", "type": "group", "children": []},
        {"title": "Client infos:", "name": "infos", "type": "group", "children": []},
    ]


class TCPServerViewerBase(AsyncViewerBase):
    """Base of DAQ_0DViewer_TCPServer, DAQ_1DViewer_TCPServer and DAQ_2DViewer_TCPServer."""

    dim = "1D"
    job_join_timeout_s = 0.0  # a grab waits on the network; stop just stops listening for its answer
    params = tcpserver_params()

    _server_event = Signal(object)

    def ini_attributes(self):
        super().ini_attributes()
        self.controller: BridgeServer | None = None
        self._mirrored_id: int | None = None
        self._last_axes: dict = {}
        self._server_event.connect(self._on_server_event)

    # ------------------------------------------------------------------ PyMoDAQ API
    def ini_detector(self, controller=None):
        try:
            if self.is_master:
                server = BridgeServer(self.settings["socket_ip"], self.settings["port_id"],
                                      allowed=self.settings["allowed_clients"],
                                      max_frame=int(self.settings["max_frame_mib"]) * 1024 * 1024)
                server.start()
                self.controller = server
            else:
                if controller is None:
                    return "this plugin is a Slave but no Master TCPServer shares its controller ID", False
                self.controller = controller
            self.controller.add_listener(self._forward_event)
            self.release_with_thread()
            self._refresh_clients()
            return f"listening on {self.controller.host}:{self.controller.port}", True
        except (OSError, ValueError) as e:
            self.release()
            return f"TCP server: {e}", False

    def commit_settings(self, param):
        name = param.name()
        path = _path_under(param, "settings_client")
        try:
            if path is not None:
                self._send_client_setting(path)
            elif name == "allowed_clients" and self.controller is not None:
                self.controller.allowed = parse_allowed(param.value())
            elif name in ("socket_ip", "port_id", "max_frame_mib") and self.controller is not None:
                self.show_status(f"{param.title()} takes effect at the next initialization")
            elif name == "client":
                self._mirror(self._selected_client())
        except (BridgeError, ValueError, OSError) as e:
            self.show_status(f"{param.title() or name}: {e}", error=True)

    def grab_data(self, Naverage=1, **kwargs):
        server = self.controller
        if server is None:
            self.show_status("the TCP server is not initialized: initialize the detector first", error=True)
            self.signal_failure()
            return
        client = self._selected_id()
        timeout = float(self.settings["grab_timeout_s"])
        dim = self.dim
        self.start_job(lambda: server.request(dim, client, timeout))

    def stop(self):
        self.abort_job()
        return ""

    def close(self):
        self.stop()
        self.release()

    def release(self) -> None:
        server, self.controller = self.controller, None
        if server is None:
            return
        server.remove_listener(self._forward_event)
        if self.is_master:
            server.stop()

    def on_job_result(self, dte: codec.DataToExport) -> None:
        self.dte_signal.emit(wire_to_pymodaq(self._title, dte, self._last_axes))

    # ------------------------------------------------------------------ server events (any thread)
    def _forward_event(self, kind, client, data) -> None:
        self._server_event.emit((kind, client, data))

    @Slot(object)
    def _on_server_event(self, event) -> None:
        kind, client, data = event
        try:
            if kind in ("connected", "disconnected"):
                self._refresh_clients()
                if kind == "disconnected" and client is not None and client.id == self._mirrored_id:
                    self._mirror(self._selected_client())
                if kind == "connected":
                    self.show_status(f"client {client.label} connected")
                else:
                    self.show_status(f"client {client.label} left: {data}", error=True)
            elif kind == "dropped":
                self.show_status(f"refused or dropped a connection: {data}", error=True)
            elif kind == "settings":
                if self._selected_client() is client:
                    self._mirror(client)
            elif kind == "info":
                if self._selected_client() is client:
                    self._show_info(*data)
                if data[0] == "error":
                    self.show_status(f"client {client.label}: {data[1]}", error=True)
            elif kind == "info_xml":
                if client.id == self._mirrored_id:
                    self._update_mirrored(*data)
        except Exception as e:  # never let an exception escape into the Qt event loop
            logger.exception("handling the server event %s failed", kind)
            self.show_status(f"server event {kind}: {e}", error=True)

    # ------------------------------------------------------------------ clients
    def _refresh_clients(self) -> None:
        clients = self.controller.clients() if self.controller is not None else []
        lines = [f"{c.label} {c.client_type}, served {c.requests_served}" for c in clients]
        self.settings.child("clients").setValue("\n".join(lines) or "none")
        labels = [FIRST_CONNECTED] + [c.label for c in clients]
        current = self.settings["client"]
        self.settings.child("client").setLimits(labels)
        self.settings.child("client").setValue(current if current in labels else FIRST_CONNECTED)
        if self._mirrored_id is None or self._mirrored_id not in [c.id for c in clients]:
            self._mirror(self._selected_client())

    def _selected_id(self) -> int | None:
        label = self.settings["client"]
        if label == FIRST_CONNECTED:
            return None
        try:
            return int(label.split()[0].lstrip("#"))
        except (ValueError, IndexError):
            return None

    def _selected_client(self):
        if self.controller is None:
            return None
        clients = [c for c in self.controller.clients() if c.client_type == "GRABBER"]
        wanted = self._selected_id()
        for c in clients:
            if wanted is None or c.id == wanted:
                return c
        return None

    def _mirror(self, client) -> None:
        """Show ``client``'s settings and infos (or nothing) under settings_client / infos."""
        group = self.settings.child("settings_client")
        group.clearChildren()
        infos = self.settings.child("infos")
        infos.clearChildren()
        self._mirrored_id = None if client is None else client.id
        if client is None:
            return
        if client.settings_xml:
            try:
                children = ioxml.XML_string_to_parameter(client.settings_xml)
                group.addChildren(children)
            except Exception as e:
                self.show_status(f"client {client.label} sent settings that cannot be shown: {e}", True)
        for name, value in client.infos.items():
            self._show_info(name, value)

    def _show_info(self, name: str, value: str) -> None:
        infos = self.settings.child("infos")
        key = "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in name) or "info"
        if key in [c.name() for c in infos.children()]:
            infos.child(key).setValue(value)
        else:
            infos.addChild({"title": f"{name}:", "name": key, "type": "str", "value": value,
                            "readonly": True})

    def _update_mirrored(self, path: list[str], xml: str) -> None:
        """The client reports the value it applied (Info_xml): show it."""
        try:
            param = ioxml.xml_string_to_parameter(xml)
        except Exception as e:
            logger.warning("Info_xml from the client cannot be read: %s", e)
            return
        group = self.settings.child("settings_client")
        target = _find(group, path, param.name())
        if target is not None and target.type() != "group":
            target.setValue(param.value())

    def _send_client_setting(self, path: list[str]) -> None:
        client = self._selected_client()
        if client is None or client.id != self._mirrored_id:
            raise BridgeError("the client whose settings are shown is no longer connected")
        param = self.settings.child("settings_client", *path)
        xml = ioxml.parameter_to_xml_string(param)  # bytes in pymodaq_gui 5.x
        self.controller.send_set_info(client.id, path, xml.decode() if isinstance(xml, bytes) else xml)


def _path_under(param, group_name: str) -> list[str] | None:
    """Names from below ``group_name`` down to ``param`` (None if param is not inside that group)."""
    names = []
    p = param
    while p is not None:
        if p.name() == group_name:
            return list(reversed(names))
        names.append(p.name())
        p = p.parent()
    return None


def _find(group, path: list[str], name: str):
    for candidate in (path, path[1:], [name]):
        if not candidate:
            continue
        try:
            return group.child(*candidate)
        except (KeyError, Exception):
            continue
    return None


def wire_to_pymodaq(title: str, dte: codec.DataToExport, last_axes: dict | None = None) -> DataToExport:
    """The codec's DataToExport (from any client) as PyMoDAQ data, axes, units and attributes kept.

    ``last_axes`` (name -> axes, updated here): PyMoDAQ's own remote viewers send a dataset's axes only
    when they change; a dataset that arrives without axes gets the last ones of the same name and shape.
    """
    out = []
    for d in dte.data:
        if last_axes is not None:
            shape = tuple(np.shape(d.data[0])) if d.data else ()
            if d.axes:
                last_axes[d.name] = (shape, d.axes)
            elif d.name in last_axes and last_axes[d.name][0] == shape and d.dim != "Data0D":
                d = dataclasses.replace(d, axes=last_axes[d.name][1])
        out.append(_dwa(d))
    return DataToExport(title, data=out)


def _axis(a: codec.Axis) -> Axis:
    """PyMoDAQ Axis; a linear one is given as offset and scaling, as PyMoDAQ would store it anyway.

    PyMoDAQ tests the linearity of an axis given as data twice (two passes of np.diff and allclose
    over the whole array): for a 1 M-point axis that is ~18 ms per grab; one pass here is a third.
    """
    data = None if a.data is None else np.asarray(a.data)
    if data is not None and data.ndim == 1 and data.size >= 2 and np.issubdtype(data.dtype, np.number):
        steps = np.diff(data)
        step = float(steps.mean())
        if np.allclose(steps, step):  # PyMoDAQ's own criterion (Axis.is_axis_linear)
            return Axis(a.label, units=a.units, scaling=step, offset=float(data[0]), size=data.size,
                        index=a.index, spread_order=a.spread_order)
    return Axis(a.label, units=a.units, data=data, index=a.index, spread_order=a.spread_order)


def _dwa(d: codec.DataWithAxes) -> DataFromPlugins:
    axes = [_axis(a) for a in d.axes]
    extra = {k: v for k, v in d.extra.items() if isinstance(k, str) and k.isidentifier()}
    kwargs = dict(data=[np.asarray(x) for x in d.data], dim=d.dim, labels=list(d.labels), axes=axes,
                  nav_indexes=tuple(d.nav_indexes), **extra)
    try:
        return DataFromPlugins(d.name, units=d.units, **kwargs)
    except Exception as e:  # units PyMoDAQ does not know (e.g. 'a.u.'): keep them as text
        logger.info("units %r not understood by PyMoDAQ (%s): kept as the attribute units_text", d.units, e)
        return DataFromPlugins(d.name, units="", units_text=d.units, **kwargs)
