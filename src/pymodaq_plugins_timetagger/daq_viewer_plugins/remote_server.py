"""A Time Tagger viewer plugin as the remote grabber of a PyMoDAQ TCP server ("Remote server" group).

The Time Tagger is plugged into a remote PC where a DAQ_Viewer shows it; the experiment (DAQ_Scan) runs on the
main PC with a TCPServer viewer. With *Connect* ticked, the plugin dials out to that server through the Qt-free
TCP link of :mod:`..bridge.link` (the same one the headless client uses: one protocol implementation) and
serves it the :class:`PluginResponder` of this module. The link calls the responder from its own thread; the
responder only hops into the plugin's thread (:meth:`~.async_viewer.AsyncViewerBase.call_in_thread`, a queued
Qt signal with a timeout) where the plugin does the work:

* ``Send Data 0D/1D``: a :class:`RemoteRequest` joins the plugin's grab jobs (``TimeTaggerViewerBase``):
  it runs after the local grab in flight (which is never dropped), measures exactly ``integration_s`` with the
  settings applied at that moment, is shown locally as temporary data and sent (``dataset.result_to_data``, the
  one conversion). The link waits for it with a deadline the plugin sets (the windows ahead of it, its own
  window, the timeout margin and :data:`ANSWER_SLACK_S`); the link's stop (Quit, a lost link, Disconnect)
  cancels it and nothing is sent.
* ``set_info``: the XML is read by :mod:`..protocol.paramxml` (never evaluated), the value checked by its
  declaration (:func:`..settings.check_plugin`, the check the user's own edits go through) and applied as a
  local edit; the value applied is echoed back, a refusal raises :class:`~..hardware.errors.SettingsError`
  (the link sends ``set_info_error`` and the value still applied) and changes nothing.
* the settings (``Infos`` at each connection, ``Info_xml`` when the user edits one of them locally): the
  parameters of :data:`MIRRORED` as a :class:`~..protocol.paramxml.Param` tree.

The link's status (waiting / connected to … / refused: why) goes to the group's read-only *Status* field and to
the status bar when it changes.
"""
from __future__ import annotations

import threading
import time
import weakref

from ..bridge.link import Link, LinkGroup, host_port
from ..bridge.service import ClientStatus, edit_path, read_edit
from ..protocol.auth import read_secret_file
from ..protocol.dialects import CLASSIC, PYMODAQ5
from ..protocol.paramxml import Param, to_xml_string
from ..protocol.server import DEFAULT_HOST, DEFAULT_PORT
from ..hardware.errors import AcquisitionAborted, SettingsError, TaggerError
from ..utils import config_value

#: the group's name in the plugin's settings
GROUP = "remote"
#: the plugin's thread must take a call of the link within this long, s (it is busy only between Qt events)
HOP_TIMEOUT_S = 5.0
#: what a remote request may take beyond the windows ahead of it and its own (timeout margins included), s
ANSWER_SLACK_S = 5.0
#: the link waits for a request's outcome in slices of this long (its stop event is looked at between them), s
WAIT_SLICE_S = 0.05
#: the plugin's settings the server mirrors (and may edit unless read-only), in this order
MIRRORED = ("address", "device", "mode", "integration_s", "timeout_margin_s", "measurement")
#: of those, fixed from the server (as the headless client's address and device)
MIRRORED_READONLY = ("address", "device")


def remote_group() -> dict:
    """The "Remote server" group of every Time Tagger viewer plugin."""
    return {"title": "Remote server:", "name": GROUP, "type": "group", "expanded": False, "children": [
        {"title": "Server host:", "name": "host", "type": "str",
         "value": str(config_value("bridge", "host", default=DEFAULT_HOST)),
         "tip": "the main PC where a TCPServer viewer listens (this PC dials out: it needs no open port); "
                "several, comma-separated (host or host:port), serve them all, one request at a time"},
        {"title": "Port:", "name": "port", "type": "int",
         "value": int(config_value("bridge", "port", default=DEFAULT_PORT)), "min": 1, "max": 65535},
        {"title": "Dialect:", "name": "dialect", "type": "list", "value": PYMODAQ5, "limits": [PYMODAQ5, CLASSIC],
         "tip": "pymodaq5: PyMoDAQ 5's TCPServer (and this package's); classic: PyMoDAQ 4 and older"},
        {"title": "Shared secret file:", "name": "secret_file", "type": "browsepath", "value": "",
         "filetype": True, "tip": "the file the server's 'Shared secret file' names (empty: the server has none)"},
        {"title": "Connect", "name": "connect", "type": "bool", "value": False,
         "tip": "serve this plugin's measurement to the server: it answers the server's grabs, mirrors its "
                "settings there and reconnects by itself"},
        {"title": "Status:", "name": "status", "type": "str", "value": "not connected", "readonly": True},
    ]}


def status_text(st: ClientStatus) -> str:
    """The link's state as the *Status* field shows it: waiting / connected to … / refused: why."""
    reason = st.waiting_reason
    if st.connected:
        text = f"connected to {st.server}"
    elif reason.startswith("not a PyMoDAQ server"):  # what a server asking for a shared secret looks like
        text = f"refused by {st.server}: {reason}; if it has a shared secret, give its file here"
    elif "secret" in reason or "at once" in reason:
        text = f"refused by {st.server}: {reason}"
    else:
        text = f"waiting for {st.server}" + (f" ({st.waiting_reason})" if st.waiting_reason else "")
    return text + (f" | last error: {st.last_error}" if st.last_error else "")


def to_param(p) -> Param:
    """A pyqtgraph/PyMoDAQ parameter (and its children) as a Qt-free :class:`Param` (what the XML carries)."""
    typ = p.type()
    limits = p.opts.get("limits")
    return Param(name=p.name(), type=typ, value=None if typ == "group" else p.value(),
                 title=(p.title() or p.name()).rstrip().rstrip(":"), readonly=bool(p.opts.get("readonly")),
                 limits=list(limits) if typ == "list" and limits is not None else None,
                 children=[to_param(c) for c in p.children()])


class RemoteRequest:
    """One ``Send Data xD`` of the server, waiting in the plugin's grab jobs (attributes set by the plugin's
    thread, read by the link's)."""

    def __init__(self, dim: str):
        self.dim = dim
        self.done = threading.Event()
        self.cancelled = False
        self.data = None            # codec.DataToExport
        self.error: Exception | None = None
        #: time.monotonic() after which the link gives up (updated by the plugin when the request is queued
        #: or started)
        self.deadline = time.monotonic() + HOP_TIMEOUT_S

    def finish(self, data=None, error: Exception | None = None) -> None:
        if not self.done.is_set():
            self.data, self.error = data, error
            self.done.set()


class PluginResponder:
    """The link's :class:`~..bridge.link.Responder` for a ``TimeTaggerViewerBase`` plugin."""

    def __init__(self, plugin, closing: threading.Event):
        self.plugin = plugin
        self.closing = closing

    def _call(self, fn):
        return self.plugin.call_in_thread(fn, HOP_TIMEOUT_S, self.closing)

    def answer(self, dim: str, stop: threading.Event):
        req = RemoteRequest(dim)
        self._call(lambda: self.plugin.remote_request(req))
        while not req.done.wait(WAIT_SLICE_S):
            if stop.is_set() or self.closing.is_set():
                self._cancel(req)
                raise AcquisitionAborted(f"the {dim} request was stopped (link stopped or lost)")
            if time.monotonic() > req.deadline:
                self._cancel(req)
                raise TaggerError(f"the plugin did not answer the {dim} request in time")
        if req.error is not None:
            raise req.error
        return req.data

    def _cancel(self, req: RemoteRequest) -> None:
        req.cancelled = True
        self.plugin.post_in_thread(lambda: self.plugin.remote_cancel(req))

    def apply_edit(self, path, xml):
        param = read_edit(xml)  # the only reader of the peer's XML: typed values, nothing evaluated
        path = edit_path(path) or [param.name]
        return self._call(lambda: self.plugin.remote_edit(path, param.value, param.name))

    def applied_xml(self, path):
        return self._call(lambda: mirrored_xml(self.plugin.settings, edit_path(path)))

    def settings_xml(self) -> str:
        return self._call(lambda: to_xml_string(mirrored_tree(self.plugin.settings)))

    def infos(self) -> dict[str, str]:
        return self._call(self.plugin.remote_infos)


def mirrored_tree(settings) -> Param:
    """The plugin's settings the server mirrors (root 'settings', the children of :data:`MIRRORED`)."""
    children = []
    for name in MIRRORED:
        p = to_param(settings.child(name))
        p.readonly = p.readonly or name in MIRRORED_READONLY
        children.append(p)
    return Param(name="settings", type="group", title="Settings", children=children)


def mirrored_param(settings, path: list[str]):
    """The plugin's own parameter at ``path`` (relative to the mirrored tree); SettingsError if the server may not
    change it."""
    if not path or path[0] not in MIRRORED:
        raise SettingsError(f"{'/'.join(path) or '(empty path)'} is not a setting of this plugin")
    if path[0] in MIRRORED_READONLY:
        raise SettingsError(f"{path[0]} is fixed on the remote PC (change it there)")
    try:
        param = settings.child(*path)
    except KeyError:
        raise SettingsError(f"{'/'.join(path)} is not a setting of this plugin") from None
    if param.type() == "group" or param.opts.get("readonly"):
        raise SettingsError(f"{'/'.join(path)} cannot be set")
    return param


def mirrored_xml(settings, path: list[str]) -> tuple[list[str], str] | None:
    """(``['settings', *path]``, XML of the plugin's parameter at ``path``), or None if it is not mirrored."""
    if not path or path[0] not in MIRRORED:
        return None
    try:
        param = settings.child(*path)
    except KeyError:
        return None
    return ["settings", *path], to_xml_string(to_param(param))


class RemoteLink:
    """The plugin's link to the server: made from the group's values, started and stopped by the plugin.

    It holds the plugin weakly: the plugin holds its link, and a cycle between them would leave a closed plugin to
    Python's cycle collector, which runs in whichever thread happens to allocate, possibly a non-Qt one (the link's
    own), and a Qt object deleted outside its thread leaves its timers behind (a crash in the next event loop).
    """

    def __init__(self, plugin):
        self.plugin = weakref.proxy(plugin)
        self.closing = threading.Event()
        self.link: Link | None = None
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, on_status, on_end) -> str:
        """Connect with the group's values (ValueError naming what is wrong); the link runs in its own thread.
        ``on_status(text)`` and ``on_end()`` are called from the link's thread."""
        g = self.plugin.settings.child(GROUP)
        servers = [host_port(h, int(g["port"])) for h in str(g["host"]).split(",") if h.strip()]
        if not servers:
            raise ValueError("give the server's host")
        secret_file = str(g["secret_file"]).strip()
        secret = read_secret_file(secret_file) if secret_file else None
        self.closing.clear()
        kw = dict(responder=PluginResponder(self.plugin, self.closing), protocol=g["dialect"], secret=secret,
                  on_status=lambda st: on_status(status_text(st)))
        self.link = Link(*servers[0], **kw) if len(servers) == 1 else LinkGroup(servers, **kw)
        link = self.link

        def serve():
            try:
                link.serve_forever()
            finally:
                on_end(link)
        self._thread = threading.Thread(target=serve, name="timetagger-remote-server", daemon=True)
        self._thread.start()
        return ", ".join(f"{h}:{p}" for h, p in servers)

    def push_info_xml(self, path: list[str]) -> None:
        """A mirrored setting was changed on this PC: the server's mirror follows."""
        if self.link is not None and path and path[0] in MIRRORED:
            applied = mirrored_xml(self.plugin.settings, path)
            if applied is not None:
                self.link.push_info_xml(*applied)

    def push_settings(self) -> None:
        if self.link is not None:
            self.link.push_settings()

    def stop(self, timeout: float = 10.0) -> bool:
        """Close the link (the request under way is cancelled: nothing is sent); True if its thread ended."""
        self.closing.set()
        if self.link is not None:
            self.link.shutdown()
        t, self._thread, self.link = self._thread, None, None
        if t is not None and t is not threading.current_thread():
            t.join(timeout)
            return not t.is_alive()
        return True


__all__ = ["GROUP", "remote_group", "RemoteLink", "RemoteRequest", "PluginResponder", "MIRRORED", "status_text",
           "mirrored_tree", "mirrored_param", "mirrored_xml"]
