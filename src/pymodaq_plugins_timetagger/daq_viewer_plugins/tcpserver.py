"""The TimeTaggerTCPServer viewer plugins (0D, 1D, 2D): a thin PyMoDAQ layer on the Qt-free bridge server.

On the main PC, a DAQ_Viewer with one of these plugins listens on ``socket_ip:port_id``; the Time
Tagger client (or any client of PyMoDAQ's TCP/IP protocol, in either dialect) dials in. A grab sends
``Send Data xD`` to the chosen client and emits its answer with axes and units intact. No client, a
client that left, or no answer in time: a status message naming the cause, and no data (never mock
data); a grab while no client is connected waits up to *Grab timeout* for one to (re)connect.

The settings and infos of the client that answers the next grab are mirrored under *Client settings* and
*Client infos* (see :mod:`..protocol.mirror`: only plain values of allowed parameter types, bounded, never
evaluated); editing one there sends it to the client (``set_info``), which applies it and answers with the
value it applied. PyMoDAQ 5.3's DAQ_Viewer copies a plugin's settings tree by its changes but never
removes a child from its copy, so the mirror never removes one either: a parameter the current client
does not have is hidden and marked (not sent by the current client), and comes back if a client sends it
again; the UI's copy, and the settings a scan saves, stay equal to the plugin's.
"""
from __future__ import annotations

import copy
import dataclasses
import threading
import time

from qtpy.QtCore import Qt, QTimer, Signal, Slot

from pymodaq.control_modules.viewer_utility_classes import comon_parameters
from pymodaq_utils.logger import get_module_name, set_logger
from pymodaq_utils.utils import ThreadCommand

from .. import data_model
from ..protocol.auth import read_secret_file
from ..protocol.mirror import MirrorLimits, MirrorRefused, clip_text, info_key, mirror_dict, mirror_dicts
from ..protocol.paramxml import apply_xml_update, from_xml_string, to_xml_string
from ..protocol.server import DEFAULT_HOST, DEFAULT_PORT, BridgeError, BridgeServer, ClientLeft, NoClient
from ..compat import ThreadStatus
from ..hardware.errors import AcquisitionAborted
from ..utils import config_value
from .async_viewer import AsyncViewerBase
from .common import DURATION_CHANNEL_PARAM, duration_data
from .data import to_pymodaq

logger = set_logger(get_module_name(__file__))

FIRST_CONNECTED = "first connected"
NO_CLIENT = "no client"
#: title prefix of a mirrored parameter the current client did not send (hidden, kept for PyMoDAQ's UI copy)
GONE = "(not sent by the current client) "
#: the Connected clients line follows the grabs served this often, ms
CLIENTS_LINE_MS = 500
#: a client that never sends its settings (a custom client) is asked for data this long after connecting
SETTINGS_GRACE_S = 1.0


#: DAQ_Viewer title -> the server its plugin's last initialization started. After a failed init, PyMoDAQ 5.3's
#: DAQ_Viewer makes a new plugin at each init without closing the one before, which then keeps its port for good
#: (an init on that port fails with "Address already in use", the viewer's own process holding it): a new init of
#: the same viewer stops the server of the one before.
_STARTED: dict = {}


def tcpserver_params() -> list:
    return comon_parameters + [
        {"title": "Listen on IP:", "name": "socket_ip", "type": "str",
         "value": str(config_value("bridge", "host", default=DEFAULT_HOST)),
         "tip": "127.0.0.1: this PC only; the LAN address of this PC (or 0.0.0.0) for a remote client"},
        {"title": "Port:", "name": "port_id", "type": "int",
         "value": int(config_value("bridge", "port", default=DEFAULT_PORT)), "min": 0, "max": 65535},
        {"title": "Allowed clients:", "name": "allowed_clients", "type": "str", "value": "",
         "tip": "comma-separated addresses or networks (e.g. 192.168.1.20, 10.0.0.0/24); empty: any"},
        {"title": "Shared secret file:", "name": "secret_file", "type": "browsepath", "value": "",
         "filetype": True, "tip": "file holding a secret the clients must prove (give the client the same "
                                  "file with --secret-file); empty: none, PyMoDAQ's own clients can connect"},
        {"title": "Grab timeout (s):", "name": "grab_timeout_s", "type": "float", "value": 10.0, "min": 0.01,
         "tip": "how long a grab waits for the client's data, and for a client to (re)connect"},
        {"title": "Max. frame (MiB):", "name": "max_frame_mib", "type": "int", "value": 64, "min": 1},
        DURATION_CHANNEL_PARAM,
        {"title": "Server:", "name": "server_state", "type": "str", "value": "not initialized", "readonly": True},
        {"title": "Ask client:", "name": "client", "type": "list", "value": FIRST_CONNECTED,
         "limits": [FIRST_CONNECTED]},
        {"title": "Connected clients:", "name": "clients", "type": "text", "value": "", "readonly": True},
        {"title": "Mirrored client:", "name": "mirrored", "type": "str", "value": NO_CLIENT, "readonly": True,
         "tip": "the client whose settings and infos are shown below (the one the next grab asks)"},
        {"title": "Client settings:", "name": "settings_client", "type": "group", "children": []},
        {"title": "Client infos:", "name": "infos", "type": "group", "children": []},
    ]


class TCPServerViewerBase(AsyncViewerBase):
    """Base of DAQ_0DViewer_TimeTaggerTCPServer, DAQ_1DViewer_TimeTaggerTCPServer and DAQ_2DViewer_TimeTaggerTCPServer."""

    dim = "1D"
    job_join_timeout_s = 0.0  # a grab waits on the network; stop just stops listening for its answer
    params = tcpserver_params()
    mirror_limits = MirrorLimits()

    _server_event = Signal(object)

    def ini_attributes(self):
        super().ini_attributes()
        self.controller: BridgeServer | None = None
        self._mirrored_id: int | None = None
        self._client_ids: dict[str, int] = {}  # the labels offered under 'client' -> the server's client ids
        self._mirror_source = None          # the mirrored client's settings (paramxml.Param)
        self._info_keys: dict[str, str] = {}  # info name -> parameter name under infos
        self._last_axes: dict = {}
        self._client_arrived = threading.Event()
        self._server_event.connect(self._on_server_event, Qt.ConnectionType.QueuedConnection)
        self._inflight = None                # the request sent and maybe not answered yet
        self._clients_due = False            # the Connected clients line is to be shown again
        self._grab_deadline = 0.0
        self._fast_grab = False

    # ------------------------------------------------------------------ PyMoDAQ API
    def ini_detector(self, controller=None):
        try:
            if self.is_master:
                secret_file = str(self.settings["secret_file"]).strip()
                before = _STARTED.pop(self._viewer_key(), None)
                if before is not None:
                    before.stop()
                server = BridgeServer(self.settings["socket_ip"], self.settings["port_id"],
                                      allowed=self.settings["allowed_clients"],
                                      max_frame=int(self.settings["max_frame_mib"]) * 1024 * 1024,
                                      secret=read_secret_file(secret_file) if secret_file else None)
                server.start()
                self.controller = server
                if self._viewer_key() is not None:
                    _STARTED[self._viewer_key()] = server
            else:
                if controller is None:
                    return self.init_failed("this plugin is a Slave but no Master TimeTaggerTCPServer shares its "
                                            "controller ID", "server_state")
                self.controller = controller
            self.controller.add_listener(self._forward_event)
            self.release_with_thread()
            self._refresh_clients()
            text = f"listening on {self.controller.host}:{self.controller.port}"
            self.settings.child("server_state").setValue(text)
            return text, True
        except (OSError, ValueError) as e:
            self.release()
            return self.init_failed(f"TCP server: {e}", "server_state")

    def commit_settings(self, param):
        name = param.name()
        path = _path_under(param, "settings_client")
        try:
            if path is not None:
                self._send_client_setting(path, param)
            elif name == "allowed_clients" and self.controller is not None:
                self.controller.set_allowed(param.value())
            elif name in ("socket_ip", "port_id", "max_frame_mib", "secret_file") and self.controller is not None:
                self.show_status(f"{param.title()} takes effect at the next initialization")
            elif name == "client":
                self._mirror(self._selected_client())
        except (BridgeError, ValueError, OSError, KeyError) as e:
            self.setting_refused(param, e)

    def grab_data(self, Naverage=1, **kwargs):
        server = self.controller
        if server is None:
            self.report_failure("the TCP server is not initialized: initialize the detector first")
            return
        timeout = float(self.settings["grab_timeout_s"])
        self._grab_deadline = time.monotonic() + timeout
        self._send_request(server, timeout)  # no client: retry_grab waits for one

    def _send_request(self, server: BridgeServer, timeout: float) -> None:
        """The request goes out from this thread; the connection's reader settles it (its reply, or the server gives
        it up after ``timeout`` s) and hands it to this one."""
        self._fast_grab = True
        finish = self.start_reported()
        try:
            self._inflight = server.submit(self.dim, self._selected_id(), timeout=timeout,
                                           on_done=lambda req: finish(req.exception() or req.result()))
        except BridgeError as e:  # no client (any more): see retry_grab
            finish(e)

    def _wait_and_request(self, server: BridgeServer, timeout: float) -> None:
        """No client ready: a job thread waits for one (up to ``timeout`` s, the rest of the grab's) and asks it."""
        self._fast_grab = False
        client, dim = self._selected_id(), self.dim
        arrived, aborted = self._client_arrived, threading.Event()
        grab_timeout = float(self.settings["grab_timeout_s"])
        self.start_job(lambda: request_waiting(server, dim, client, timeout, arrived, aborted, grab_timeout),
                       abort=aborted.set)

    def retry_grab(self, outcome) -> bool:
        """The client left (or was gone) when the request went out: wait for one within the rest of the grab timeout,
        as a grab that found no client does (a chosen client is not waited for: its id dies with it)."""
        if not (self._fast_grab and isinstance(outcome, (NoClient, ClientLeft))) or self.controller is None \
                or self._selected_id() is not None:
            return False
        remaining = self._grab_deadline - time.monotonic()
        if remaining <= 0:
            return False
        self._wait_and_request(self.controller, remaining)
        return True

    def stop(self):
        self.abort_job()
        self.restate_failure()
        return ""

    def close(self):
        self.abort_job()
        self.release()
        self.close_outlet()

    def release(self) -> None:
        self._inflight = None
        server, self.controller = self.controller, None
        if server is None:
            return
        server.remove_listener(self._forward_event)
        if self.is_master:
            server.stop()
            if _STARTED.get(self._viewer_key()) is server:
                del _STARTED[self._viewer_key()]

    def _viewer_key(self):
        """The DAQ_Viewer this plugin belongs to (None: no DAQ_Viewer, e.g. PyMoDAQ's plugin test harness)."""
        return self._title if self.parent is not None else None

    def on_job_result(self, dte: data_model.DataToExport) -> None:
        out = to_pymodaq(self._title, dte, self._last_axes)
        if self.settings["duration_channel"]:
            seconds = [d.extra.get("capture_duration_s") for d in dte.data]
            seconds = [s for s in seconds if isinstance(s, (int, float)) and not isinstance(s, bool)]
            out.append(duration_data(seconds[0] if seconds else float("nan")))  # NaN: the client did not say
        self.dte_signal.emit(out)

    # ------------------------------------------------------------------ server events (any thread)
    def _forward_event(self, kind, client, data) -> None:
        if kind == "served" and self._clients_due:
            return  # the line is shown again soon anyway
        if kind in ("connected", "settings"):
            self._client_arrived.set()  # a grab waiting for a client looks again
        self.emit_from_thread(self._server_event, (kind, client, data))

    @Slot(object)
    def _on_server_event(self, event) -> None:
        kind, client, data = event
        try:
            if kind in ("connected", "disconnected"):
                self._refresh_clients()
                if kind == "connected":
                    self.show_status(f"client {client.label} connected")
                else:
                    self.show_status(f"client {client.label} left: {data}", error=True)
            elif kind == "served" and not self._clients_due:  # the line follows at most twice a second
                self._clients_due = True
                QTimer.singleShot(CLIENTS_LINE_MS, self._show_clients)
            elif kind == "dropped":
                self.show_status(f"refused or dropped a connection: {data}", error=True)
            elif kind == "settings":
                if self._selected_client() is client:
                    self._mirror(client)
            elif kind == "info":
                if client.id == self._mirrored_id:
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
        clients = self._show_clients()
        self._client_ids = {c.label: c.id for c in clients}
        labels = [FIRST_CONNECTED, *self._client_ids]
        current = self.settings["client"]
        self.settings.child("client").setLimits(labels)
        self.settings.child("client").setValue(current if current in labels else FIRST_CONNECTED)
        selected = self._selected_client()
        if (None if selected is None else selected.id) != self._mirrored_id:
            self._mirror(selected)

    def _show_clients(self) -> list:
        """The *Connected clients* line: each client and the grabs it served."""
        self._clients_due = False
        clients = self.controller.clients() if self.controller is not None else []
        lines = [f"{c.label} {c.client_type}, served {c.requests_served}" for c in clients]
        self.settings.child("clients").setValue("\n".join(lines) or "none")
        return clients

    def _selected_id(self) -> int | None:
        return self._client_ids.get(self.settings["client"])  # None: first connected

    def _selected_client(self):
        if self.controller is None:
            return None
        clients = [c for c in self.controller.clients() if c.client_type == "GRABBER"]
        wanted = self._selected_id()
        for c in sorted(clients, key=lambda c: c.id):
            if wanted is None or c.id == wanted:
                return c
        return None

    # ------------------------------------------------------------------ the mirror
    def _mirror(self, client) -> None:
        """Show ``client``'s settings and infos under settings_client / infos (``None``: no client)."""
        self._mirrored_id = None if client is None else client.id
        self._mirror_source = None
        self._info_keys = {}
        settings: list[dict] = []
        if client is not None and client.settings is not None:
            try:
                settings, warnings = mirror_dicts(client.settings, self.mirror_limits)
                self._mirror_source = copy.deepcopy(client.settings)  # Info_xml updates go into this copy
                for w in warnings[:5]:
                    logger.warning("client %s: %s", client.label, w)
                if warnings:
                    self.show_status(f"client {client.label}: {len(warnings)} of its settings are shown as "
                                     f"text or cut ({warnings[0]})", error=True)
            except MirrorRefused as e:
                self.show_status(f"client {client.label}: {e}", error=True)
        elif client is not None and client.settings_xml:
            self.show_status(f"client {client.label} sent settings that cannot be read (see the log)", True)
        limits = self.mirror_limits
        self._reconcile(self.settings.child("settings_client"),
                        self._within(self.settings.child("settings_client"), settings, limits.max_held,
                                     "settings", client))
        infos = [] if client is None else list(client.infos.items())
        if len(infos) > limits.max_infos:
            self.show_status(f"client {client.label}: {len(infos)} infos, the mirror shows the first "
                             f"{limits.max_infos}", error=True)
        infos = [self._info_dict(n, v) for n, v in infos[:limits.max_infos]]
        self._reconcile(self.settings.child("infos"),
                        self._within(self.settings.child("infos"), infos, limits.max_held_infos, "infos", client))
        self.settings.child("mirrored").setValue(NO_CLIENT if client is None else client.label)

    def _info_dict(self, name: str, value: str) -> dict:
        key = self._info_keys.get(name)
        if key is None:
            key = self._info_keys[name] = info_key(name, set(self._info_keys.values()))
        warnings: list[str] = []
        text = clip_text(str(value), self.mirror_limits.max_text, f"info {name[:40]!r}", warnings)
        title = clip_text(f"{name}:", self.mirror_limits.max_title, "an info's name", warnings)
        for w in warnings:
            logger.warning("%s", w)
        return {"title": title, "name": key, "type": "str", "value": text, "readonly": True,
                "visible": True}

    def _show_info(self, name: str, value: str) -> None:
        if name not in self._info_keys and len(self._info_keys) >= self.mirror_limits.max_infos:
            logger.warning("info %r not shown: the mirror shows at most %d infos", name[:40],
                           self.mirror_limits.max_infos)
            return
        d = self._info_dict(name, value)
        infos = self.settings.child("infos")
        if _size(infos) + _added(infos, [d]) > self.mirror_limits.max_held_infos:
            logger.warning("info %r not shown: the mirror holds %d infos", name[:40], _size(infos))
            return
        self._reconcile(infos, [d], vacate_others=False)

    def _within(self, group, wanted: list[dict], limit: int, what: str, client) -> list[dict]:
        """``wanted``, or nothing if the group would then hold more than ``limit`` parameters in all."""
        held, added = _size(group), _added(group, wanted)
        if held + added <= limit:
            return wanted
        self.show_status(f"client {client.label}: its {what} are not shown: the mirror already holds {held} "
                         f"{what} of earlier clients and may hold {limit} in all (initialize the viewer again "
                         f"to clear it)", error=True)
        return []

    def _reconcile(self, group, wanted: list[dict], vacate_others: bool = True) -> None:
        """Make ``group``'s visible children equal ``wanted`` (param dicts) without removing a child."""
        existing = {c.name(): c for c in group.children()}
        for d in wanted:
            current = existing.pop(d["name"], None)
            if current is not None and current.type() != d["type"]:
                self._vacate(current)
                self._rename_away(group, current)
                current = None
            if current is None:
                group.addChild(d)
            else:
                self._update(current, d)
        if vacate_others:
            for current in existing.values():
                self._vacate(current)

    def _update(self, param, d: dict) -> None:
        opts = {k: d[k] for k in ("title", "readonly", "visible") if k in d}
        if "limits" in d:
            param.setLimits(d["limits"])
        param.setOpts(**opts)
        if d["type"] == "group":
            self._reconcile(param, d.get("children", []))
        elif "value" in d:
            param.setValue(d["value"])

    def _vacate(self, param) -> None:
        """Hide a parameter the current client does not have, marked as such (it stays for PyMoDAQ's copy)."""
        title = param.opts.get("title") or param.name()
        if not str(title).startswith(GONE):
            param.setOpts(title=GONE + str(title))
        param.setOpts(visible=False, readonly=True)

    def _rename_away(self, group, param) -> None:
        """Free a name taken by a parameter of another type (the UI's copy is renamed the same way)."""
        taken = {c.name() for c in group.children()}
        n, new = 1, f"{param.name()}__gone"
        while new in taken:
            n += 1
            new = f"{param.name()}__gone{n}"
        path = self.settings.childPath(param)
        param.setName(new)
        self.emit_status(ThreadCommand(ThreadStatus.UPDATE_SETTINGS,
                                       [self.parent_parameters_path + path, {"name": new}, "options"]))

    def _update_mirrored(self, path: list[str], xml: str) -> None:
        """The client reports the value it applied (Info_xml): show it (if it is a plain value of that type)."""
        try:
            new = mirror_dict(from_xml_string(xml), self.mirror_limits)
        except ValueError as e:  # MirrorRefused included
            logger.warning("Info_xml from the client cannot be shown: %s", e)
            return
        group = self.settings.child("settings_client")
        target = _find(group, path, new["name"])
        if target is None or target.type() == "group" or target.type() != new["type"] or "value" not in new:
            logger.warning("Info_xml for %s does not fit the mirrored parameter: not shown", "/".join(path)[:80])
            return
        if "limits" in new:
            target.setLimits(new["limits"])
        target.setValue(new["value"])
        if self._mirror_source is not None:
            try:
                apply_xml_update(self._mirror_source, path, xml)
            except (KeyError, ValueError) as e:
                logger.info("Info_xml for %s not kept for set_info: %s", "/".join(path)[:80], e)

    def _send_client_setting(self, path: list[str], param) -> None:
        client = self._selected_client()
        if client is None or client.id != self._mirrored_id or self._mirror_source is None:
            raise BridgeError("the client whose settings are shown is no longer connected")
        source = self._mirror_source.child(*path)  # KeyError: not one of the client's own settings
        if param.readonly() or source.type != param.type():
            raise BridgeError("this setting of the client is shown, not editable")
        node = dataclasses.replace(source, value=param.value(), children=[])
        self.controller.send_set_info(client.id, path, to_xml_string(node))


def _size(group) -> int:
    """Parameters below ``group``, at every depth."""
    return sum(1 + _size(c) for c in group.children())


def _count_dicts(dicts: list[dict]) -> int:
    return sum(1 + _count_dicts(d.get("children", [])) for d in dicts)


def _added(group, wanted: list[dict]) -> int:
    """How many parameters reconciling ``group`` with ``wanted`` would add (see ``_reconcile``)."""
    existing = {c.name(): c for c in group.children()}
    n = 0
    for d in wanted:
        current = existing.get(d["name"])
        if current is None or current.type() != d["type"]:
            n += 1 + _count_dicts(d.get("children", []))
        elif d["type"] == "group":
            n += _added(current, d.get("children", []))
    return n


def request_waiting(server: BridgeServer, dim: str, client_id: int | None, timeout_s: float,
                    arrived: threading.Event, aborted: threading.Event, grab_timeout_s: float | None = None):
    """``server.request``, waiting up to ``timeout_s`` in all for a client to (re)connect if none is there.

    ``arrived`` is set (by the plugin's event listener) when a client connects or sends its settings;
    ``aborted`` ends the wait (stop). A chosen client (``client_id``) is not waited for: its id dies with it.
    Blocks at most ~``timeout_s``; raises the server's error, the clearest one (no client) kept.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return server.request(dim, client_id, max(deadline - time.monotonic(), 0.001))
        except (NoClient, ClientLeft) as e:
            if client_id is not None:
                raise
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                waited = timeout_s if grab_timeout_s is None else grab_timeout_s
                raise type(e)(f"{e} (waited {waited:g} s for a client)") from None
            arrived.clear()
            while not _client_ready(server) and remaining > 0:
                if aborted.is_set():
                    raise AcquisitionAborted("stopped while waiting for a client") from None
                arrived.wait(min(remaining, 0.25))
                arrived.clear()
                remaining = deadline - time.monotonic()
            if aborted.is_set():
                raise AcquisitionAborted("stopped while waiting for a client") from None


def _client_ready(server: BridgeServer) -> bool:
    """A GRABBER is connected and has sent its settings (or never will: connected SETTINGS_GRACE_S ago)."""
    now = time.time()
    return any(c.client_type == "GRABBER" and (c.settings_xml or now - c.connected_at > SETTINGS_GRACE_S)
               for c in server.clients())


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
        except KeyError:  # pyqtgraph's Parameter.child raises KeyError for a missing name
            continue
    return None
