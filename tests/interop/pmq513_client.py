"""PyMoDAQ 5.1.13's own remote DAQ_Viewer ("connect to TCP server"), headless, as a TCP client.

Run with the interop venv's python (``tests/interop/venv513.py``)::

    .venv-interop513/bin/python tests/interop/pmq513_client.py --port 6341 --detector Mock \
        --daq-type DAQ1D --timeout 30 [--edit Npts=256] [--edit-after 1.0]

It builds a headless ``DAQ_Viewer(None, title=..., daq_type=...)`` with the chosen detector plugin,
initializes it, sets ``main_settings/tcpip/ip_address`` (127.0.0.1) and ``port``, then sets
``main_settings/tcpip/connect_server`` to True, exactly what the "Connect" push button does: DAQ_Viewer
starts PyMoDAQ's ``TCPClient`` (``pymodaq.utils.tcp_ip.tcp_server_client``) in a QThread, which connects,
sends ``'GRABBER'``, then ``'Infos'`` + the XML of the viewer's ``detector_settings`` (as ``bytes``), and then
answers the server's ``'Send Data xD'`` with ``'Done'`` + a ``DataToExport`` (a snapshot of the viewer).
Nothing of PyMoDAQ is patched here.

It serves until the server closes the connection (seen as the socket entering CLOSE_WAIT: 5.1.13's client
itself never notices, see below) or until ``--timeout``, then exits 0.

stdout: one JSON object per line:

* ``{"event": "initialized", "detector": ..., "daq_type": ...}``;
* ``{"event": "connected", "port": P}`` once the TCPClient says it is connected (``tcp_connected``);
* ``{"event": "from_server", "command": "...", "attribute": ...}``: every command the TCPClient passes up
  (``'Send Data 1D'``, ``'set_info'`` with ``[path, xml]``, ...);
* ``{"event": "to_server", "command": "data_ready", "dte": {...}}`` for each DataToExport it sends (the
  answer to 'Send Data'), and ``"command": "send_info"`` for a setting change it reports (``--edit``);
* ``{"event": "edit", ...}`` for each ``--edit PATH=VALUE`` (path below ``detector_settings``), done
  ``--edit-after`` seconds after connecting: the viewer then sends ``'Info_xml'`` + path + XML;
* ``{"event": "end", "reason": "server_closed" | "timeout" | "disconnected", "answers": N}``.

Exit codes: 0 after serving (server closed or timeout), 2 if it never connected, 4 if the detector did not
initialize, 1 for anything else (with ``{"event": "error", ...}``).

Quirks of 5.1.13 seen from here: the TCPClient's poll loop spins (``select`` with timeout 0 +
``processEvents``), and when the server closes, its ``recv`` returns ``b''`` forever inside
``check_received_length``: the client thread loops at 100 % CPU and never reports the disconnection. The
script therefore watches the socket state itself and leaves with ``os._exit``.
"""
from __future__ import annotations

import argparse
import os
import socket
import struct
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

KEEP = []  # Qt objects that must outlive main() (a running QThread garbage-collected aborts the process)
TCP_CLOSE_WAIT = 8  # linux tcp_states.h
TCP_STATES_GONE = {4, 5, 6, 7, 8, 9, 11}  # FIN_WAIT1/2, TIME_WAIT, CLOSE, CLOSE_WAIT, LAST_ACK, CLOSING


from jsonlines import T0, emit, parse_edit, run, spin  # noqa: E402  (the script's folder is on sys.path)


def tcp_state(sock: socket.socket) -> int | None:
    """Linux TCP state of ``sock`` (1 = ESTABLISHED, 8 = CLOSE_WAIT...), None if unknown."""
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)
        return struct.unpack("B", info[:1])[0]
    except (OSError, AttributeError, ValueError):
        return None


def describe_dte(dte) -> dict:
    import numpy as np
    out = {"name": dte.name, "class": type(dte).__name__, "data": []}
    for dwa in dte:
        arrays = [np.asarray(a) for a in dwa.data]
        out["data"].append({
            "class": type(dwa).__name__, "name": dwa.name, "dim": dwa.dim.name, "source": dwa.source.name,
            "shape": list(arrays[0].shape) if arrays else None, "n_arrays": len(arrays),
            "labels": list(dwa.labels), "units": dwa.units,
            "axes": [{"label": ax.label, "units": ax.units, "index": ax.index, "size": ax.size} for ax in dwa.axes],
            "extra_attributes": list(getattr(dwa, "extra_attributes", [])),
        })
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="PyMoDAQ 5.1.13 DAQ_Viewer as a TCP client, headless")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--ip", default="127.0.0.1")
    ap.add_argument("--detector", default="Mock")
    ap.add_argument("--daq-type", default="DAQ1D", choices=["DAQ0D", "DAQ1D", "DAQ2D", "DAQND"])
    ap.add_argument("--timeout", type=float, default=30.0, help="overall deadline, seconds")
    ap.add_argument("--connect-timeout", type=float, default=10.0)
    ap.add_argument("--edit", type=parse_edit, action="append", default=[],
                    help="PATH=VALUE below detector_settings, set --edit-after s after connecting (-> 'Info_xml')")
    ap.add_argument("--edit-after", type=float, default=0.5)
    args = ap.parse_args(argv)
    deadline = T0 + args.timeout

    from qtpy import QtWidgets
    from jsonlines import mkQApp
    app = mkQApp("pmq513_client")  # noqa: F841
    from pymodaq.control_modules.daq_viewer import DAQ_Viewer

    viewer = DAQ_Viewer(None, title="pmq513_client", daq_type=args.daq_type)
    KEEP.append(viewer)
    viewer.detector = args.detector
    inited = []
    viewer.init_signal.connect(inited.append)
    viewer.init_hardware(True)
    if not spin(lambda: inited, min(deadline, time.monotonic() + 20)) or not inited[0]:
        emit(event="error", msg=f"detector {args.detector} ({args.daq_type}) did not initialize: {inited}")
        return 4
    emit(event="initialized", detector=args.detector, daq_type=args.daq_type)

    answers = []

    def on_command_tcpip(cmd):  # what the viewer asks its TCPClient to send
        if cmd.command == "data_ready":
            answers.append(cmd.attribute)
            emit(event="to_server", command="data_ready", dte=describe_dte(cmd.attribute))
        elif cmd.command == "send_info":
            emit(event="to_server", command="send_info", path=cmd.attribute["path"],
                 value=cmd.attribute["param"].value())
        else:
            emit(event="to_server", command=cmd.command)

    viewer._command_tcpip.connect(on_command_tcpip)

    tcpip = viewer.settings.child("main_settings", "tcpip")
    tcpip.child("ip_address").setValue(args.ip)
    tcpip.child("port").setValue(args.port)
    tcpip.child("connect_server").setValue(True)  # what the Connect button does -> connect_tcp_ip()
    thread = viewer._tcpclient_thread
    if thread is None:
        emit(event="error", msg="DAQ_Viewer did not start a TCPClient thread")
        return 1
    client = thread.tcpclient
    KEEP.extend([thread, client])

    def on_from_server(cmd):
        attr = cmd.attribute
        if cmd.command == "set_info" and isinstance(attr, list):
            attr = {"path": attr[0], "xml": attr[1], "xml_type": type(attr[1]).__name__}
        emit(event="from_server", command=cmd.command, attribute=attr)

    client.cmd_signal.connect(on_from_server)

    if not spin(lambda: tcpip["tcp_connected"], min(deadline, time.monotonic() + args.connect_timeout)):
        emit(event="error", msg=f"could not connect to {args.ip}:{args.port}")
        return 2
    emit(event="connected", port=args.port, client_class=type(client).__module__ + "." + type(client).__name__)
    t_connected = time.monotonic()

    edits_done = not args.edit
    reason = "timeout"
    while time.monotonic() < deadline:
        QtWidgets.QApplication.processEvents()
        if not edits_done and time.monotonic() - t_connected >= args.edit_after:
            edits_done = True
            for path, text in args.edit:
                p = viewer.settings.child("detector_settings", *path)
                t = p.type()
                value = (int(text) if t == "int" else float(text) if t in ("float", "slide")
                         else text.lower() in ("1", "true", "yes") if t in ("bool", "led", "bool_push") else text)
                p.setValue(value)
                emit(event="edit", path=path, value=value, type=t)
        sock = getattr(client.socket, "socket", None) if client.socket is not None else None
        state = tcp_state(sock) if sock is not None else None
        if sock is None or sock.fileno() < 0:
            reason = "disconnected"
            break
        if state in TCP_STATES_GONE:
            reason = "server_closed"
            break
        if not tcpip["tcp_connected"]:
            reason = "disconnected"
            break
        time.sleep(0.001)
    emit(event="end", reason=reason, answers=len(answers))
    return 0


if __name__ == "__main__":
    run(main)
