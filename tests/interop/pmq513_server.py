"""PyMoDAQ 5.1.13's own TCP server (``DAQ_1DViewer_TCPServer`` of pymodaq-plugins-mock 5.0.12), headless.

Run with the interop venv's python (``tests/interop/venv513.py``)::

    .venv-interop513/bin/python tests/interop/pmq513_server.py --port 6341 --grabs 3 --timeout 30 \
        [--edit n_bins=64] [--daq-type DAQ1D]

It builds a headless ``DAQ_Viewer(None, title=..., daq_type='DAQ1D')`` with the detector ``TCPServer``
(5.1.13 has no plugin harness), sets ``socket_ip=127.0.0.1`` and ``port_id=P``, initializes it (the plugin
runs in the viewer's hardware thread, exactly as in the dashboard), waits for one GRABBER client, then snaps
``--grabs`` times and prints one JSON line per grab on stdout. Other JSON lines (``"event": ...``) tell
what happened; every line is one JSON object.

stdout lines, in order:

* ``{"event": "listening", "port": P, ...}``: the server socket is bound (connect now);
* ``{"event": "client", "type": "GRABBER", "peer": [...]}``: a client said GRABBER;
* ``{"event": "infos", "settings_client": {...}, "infos": {...}}``: what the server shows of the client
  (the mirrored settings tree ``settings_client`` as nested ``{name: value}``, and the ``infos`` group);
  printed after ``--settle`` seconds, before the grabs (and again, ``"event": "final"``, at the end);
* ``{"event": "edit", "path": [...], "value": ...}`` for each ``--edit`` (the server then sends
  ``'set_info'`` + path + XML to the client);
* one ``{"event": "grab", "index": i, "elapsed_s": ..., "mock": bool, "wire": {...}, "dte": {...}}`` per
  grab: ``dte`` is the ``DataToExport`` the viewer produced (``grab_done_signal``; DAQ_Viewer renames it
  after its title and sets each DataWithAxes' ``origin``): name, and per DataWithAxes its class, name, dim,
  source, shape, labels, units, value summary, axes (label, units, size, first/last) and extra attributes;
  ``wire`` is what the plugin emitted, i.e. what came off the socket (DataToExport name, classes, names).
  ``mock`` is true when the server had no client and made up mock data (a 5.1.13 behaviour: DataToExport
  ``'mocktcp'``);
* ``{"event": "done", "grabs": N}`` then exit 0.

Errors: a JSON line ``{"event": "error", "msg": ...}`` on stdout and exit 2 (no client before the
timeout), 3 (a grab timed out), 4 (init failed), 1 (anything else).

The accept() workaround (docs/protocol.rst): PyMoDAQ 5.1.13's ``TCPServer.listen_client`` stores the socket
returned by ``self.serversocket.accept()``. ``serversocket`` is a ``pymodaq_utils.serialize.mysocket.Socket``,
but it inherits ``accept()`` from the base ``pymodaq_utils.mysocket.Socket``, which wraps the accepted socket
in the BASE class. That one has no ``check_sended_with_serializer``, so every later ``send_command(sock,
'Send Data 1D')`` and the ``set_info`` of ``commit_settings`` raise ``AttributeError`` (swallowed into a status
message): the client is never asked for data. This script replaces ``accept`` on the serialize subclass
only (``--no-workaround`` leaves it alone, to show the bug)::

    pymodaq_utils.serialize.mysocket.Socket.accept = lambda self: (SerializeSocket(raw), addr)

A second patch is needed under PySide6 (any version; not under PyQt5): 5.1.13's ``DAQ_Viewer_TCP_server``
initializes its QObject twice, which shiboken refuses, so the plugin never initializes. See
:func:`apply_pyside6_init_workaround`; the ``listening`` line says whether it was applied.
Without a client, 5.1.13 would silently snap mock data; the script waits for one (``--allow-mock`` to snap anyway).
"""
from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


from jsonlines import T0, emit, jsonable, parse_edit, run, spin  # noqa: E402  (the script's folder is on sys.path)


def apply_accept_workaround() -> None:
    try:
        from pymodaq_utils.serialize import mysocket as ser_mysocket
    except ImportError:  # PyMoDAQ 4.4: its own mysocket.Socket.accept is right
        return

    def accept(self):
        raw, addr = self.socket.accept()
        return ser_mysocket.Socket(raw), addr

    ser_mysocket.Socket.accept = accept


def apply_pyside6_init_workaround() -> bool:
    """Let 5.1.13's ``DAQ_Viewer_TCP_server`` be built under PySide6 (needed with any PySide6 version).

    ``DAQ_Viewer_TCP_server(DAQ_Viewer_base, TCPServer)`` runs ``DAQ_Viewer_base.__init__`` (which initializes
    the QObject) and then ``TCPServer.__init__``, whose first line is ``QObject.__init__(self)`` again. shiboken
    refuses a second initialization (``RuntimeError: libshiboken: You can't initialize an PySide6.QtCore.QObject
    object in class DAQ_1DViewer_TCPServer twice!``), so with PySide6 the plugin never initializes (PyQt5
    tolerates it). The patch runs the original ``TCPServer.__init__`` with the module-global name ``QObject``
    pointing, for the duration of that call only, at a stand-in whose ``__init__`` does nothing. Nothing else
    in the server changes.
    """
    import qtpy
    if qtpy.API_NAME != "PySide6":
        return False
    from pymodaq.utils.tcp_ip import tcp_server_client as tsc
    original = tsc.TCPServer.__init__

    class _QObjectAlreadyInitialized:
        @staticmethod
        def __init__(*_args, **_kwargs):
            pass

    def __init__(self, *args, **kwargs):
        real = tsc.QObject
        tsc.QObject = _QObjectAlreadyInitialized
        try:
            original(self, *args, **kwargs)
        finally:
            tsc.QObject = real

    tsc.TCPServer.__init__ = __init__
    return True


KEEP = []  # Qt objects that must outlive main(): a QThread garbage-collected while running aborts the process


def describe_dte(dte) -> dict:
    import numpy as np
    out = {"name": dte.name, "class": type(dte).__name__, "timestamp": getattr(dte, "timestamp", None),
           "data": []}
    for dwa in dte:
        arrays = [np.asarray(a) for a in dwa.data]
        d = {
            "class": type(dwa).__name__, "name": dwa.name, "dim": str(dwa.dim.name), "source": str(dwa.source.name),
            "origin": getattr(dwa, "origin", ""), "n_arrays": len(arrays),
            "shape": list(arrays[0].shape) if arrays else None, "dtype": str(arrays[0].dtype) if arrays else None,
            "labels": list(dwa.labels), "units": dwa.units,
            "values": [{"min": float(np.min(a)), "max": float(np.max(a)), "mean": float(np.mean(a)),
                        "sum": float(np.sum(a)), "head": a.ravel()[:4].tolist()} for a in arrays],
            "axes": [],
            "extra_attributes": {k: getattr(dwa, k, None) for k in getattr(dwa, "extra_attributes", [])},
        }
        for ax in dwa.axes:
            axd = ax.get_data() if hasattr(ax, "get_data") else ax.data
            axd = np.asarray(axd) if axd is not None else None
            d["axes"].append({"label": ax.label, "units": ax.units, "index": ax.index,
                              "size": int(axd.size) if axd is not None else ax.size,
                              "first": float(axd[0]) if axd is not None and axd.size else None,
                              "last": float(axd[-1]) if axd is not None and axd.size else None})
        out["data"].append(d)
    return out


def child_values(parent, name: str) -> dict:
    """``param_values`` of ``parent``'s child ``name``, or what is there instead (e.g. after a bad Info_xml)."""
    try:
        return param_values(parent.child(name))
    except Exception as exc:  # noqa: BLE001
        return {"__error__": f"{type(exc).__name__}: {exc}", "__children__": [c.name() for c in parent.children()]}


def param_values(param) -> dict:
    out = {}
    for c in param.children():
        out[c.name()] = param_values(c) if c.hasChildren() else _plain(c.value())
    return out


def _plain(v):
    return jsonable(v) if not isinstance(v, (str, int, float, bool, type(None), list, dict)) else v


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="PyMoDAQ 5.1.13 DAQ_1DViewer_TCPServer, headless")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--grabs", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=30.0, help="overall deadline, seconds")
    ap.add_argument("--grab-timeout", type=float, default=10.0, help="per grab, seconds")
    ap.add_argument("--ip", default="127.0.0.1")
    ap.add_argument("--daq-type", default="DAQ1D", choices=["DAQ0D", "DAQ1D", "DAQ2D"])
    ap.add_argument("--settle", type=float, default=1.5,
                    help="seconds to wait after the client connected before snapping: the server reads ONE message "
                         "per 100 ms timer tick and sleeps 100 ms per readable socket, so Infos + Info + Info_xml "
                         "take about 0.6 s to be processed")
    ap.add_argument("--edit", type=parse_edit, action="append", default=[],
                    help="PATH=VALUE: after --settle, set settings_client/PATH to VALUE (cast to the param's type) "
                         "as a user would, which makes the server send 'set_info'")
    ap.add_argument("--after-edit", type=float, default=0.5, help="seconds to wait after the edits")
    ap.add_argument("--no-workaround", action="store_true", help="do not patch accept() (shows the 5.1.13 bug)")
    ap.add_argument("--allow-mock", action="store_true", help="snap even if no client connected (mock data)")
    args = ap.parse_args(argv)
    deadline = T0 + args.timeout

    if not args.no_workaround:
        apply_accept_workaround()

    init_patched = apply_pyside6_init_workaround()
    from jsonlines import mkQApp
    app = mkQApp("pmq513_server")  # noqa: F841
    from pymodaq.control_modules.daq_viewer import DAQ_Viewer

    viewer = DAQ_Viewer(None, title="pmq513_server", daq_type=args.daq_type)
    KEEP.append(viewer)
    viewer.detector = "TCPServer"
    det = viewer.settings.child("detector_settings")
    det.child("socket_ip").setValue(args.ip)
    det.child("port_id").setValue(args.port)

    inited = []
    viewer.init_signal.connect(inited.append)
    viewer.init_hardware(True)
    if not spin(lambda: inited, min(deadline, time.monotonic() + 20)) or not inited[0]:
        emit(event="error", msg=f"init failed or timed out: {inited}")
        return 4
    plugin = viewer._hardware_thread.hardware.detector  # the DAQ_1DViewer_TCPServer instance
    raw = []  # the DataToExport as the plugin emitted it (as deserialized from the wire), before DAQ_Viewer
    plugin.dte_signal.connect(lambda dte: raw.append(dte))
    emit(event="listening", port=args.port, ip=args.ip, plugin=type(plugin).__name__,
         workaround=not args.no_workaround, pyside6_init_patch=init_patched,
         serversocket=type(plugin.serversocket).__module__ + "." + type(plugin.serversocket).__name__)

    def grabber():
        for c in list(plugin.connected_clients):
            if c["type"] == "GRABBER":
                return c
        return None

    if not spin(lambda: grabber() is not None, deadline):
        if not args.allow_mock:
            emit(event="error", msg=f"no GRABBER client within {args.timeout} s")
            return 2
    else:
        c = grabber()
        try:
            peer = list(c["socket"].socket.getpeername())
        except OSError:
            peer = None
        emit(event="client", type="GRABBER", peer=peer,
             socket_class=type(c["socket"]).__module__ + "." + type(c["socket"]).__name__)

    spin(lambda: False, min(deadline, time.monotonic() + args.settle))
    emit(event="infos", settings_client=child_values(det, "settings_client"), infos=child_values(det, "infos"),
         plugin_settings_client=child_values(plugin.settings, "settings_client"))

    for path, text in args.edit:
        try:
            p = det.child("settings_client", *path)
        except Exception as exc:
            emit(event="error", msg=f"--edit: no settings_client/{'/'.join(path)}: {exc}")
            return 1
        t = p.type()
        value = (int(text) if t == "int" else float(text) if t in ("float", "slide")
                 else text.lower() in ("1", "true", "yes") if t in ("bool", "led", "bool_push") else text)
        p.setValue(value)
        emit(event="edit", path=path, value=value, type=t)
    if args.edit:
        spin(lambda: False, min(deadline, time.monotonic() + args.after_edit))

    got = []
    viewer.grab_done_signal.connect(got.append)
    for i in range(args.grabs):
        n_before = len(got)
        connected = grabber() is not None
        t_start = time.perf_counter()
        viewer.snap()
        if not spin(lambda: len(got) > n_before, min(deadline, time.monotonic() + args.grab_timeout), 0.0005):
            emit(event="error", msg=f"grab {i} timed out", connected=connected)
            return 3
        elapsed = time.perf_counter() - t_start
        dte = got[-1]
        wire = raw[-1] if raw else None
        emit(event="grab", index=i, elapsed_s=round(elapsed, 4), connected=connected,
             mock=(not connected) or (wire is not None and wire.name == "mocktcp"),
             wire={"name": wire.name, "classes": [type(d).__name__ for d in wire],
                   "names": [d.name for d in wire]} if wire is not None else None,
             dte=describe_dte(dte))

    emit(event="final", settings_client=child_values(det, "settings_client"), infos=child_values(det, "infos"),
         connected=grabber() is not None)
    emit(event="done", grabs=args.grabs)
    try:
        viewer.quit_fun()
        spin(lambda: False, time.monotonic() + 0.2)
    except Exception:
        pass
    return 0


if __name__ == "__main__":
    run(main)
