"""LECO actor mode of the standalone client: serve the Time Tagger to PyMoDAQ's ``LECODirector`` viewers.

PyMoDAQ >= 5.2 drives remote detectors over LECO (pyleco, ZeroMQ): a Coordinator routes messages, the
remote side signs in as an *actor* under a name, and the ``DAQ_0DViewer_LECODirector`` /
``DAQ_1DViewer_LECODirector`` plugins (pymodaq_plugins_mock >= 5.0.13, settings ``actor_name``, ``host``,
``port``) call it. :class:`LecoTaggerActor` is that actor, serving a :class:`~.service.MeasurementService`
(the same tagger opening, settings, error handling and re-opening as the TCP client), without Qt and without
PyMoDAQ: pyleco, numpy and our own ``protocol`` package.

What the director does and what the actor answers (checked against pymodaq 5.3.8,
``pymodaq/utils/leco/``, and a real ``DAQ_Viewer`` actor, ``ActorListener``):

==================== ======================================= ==============================================
director calls        arguments                               the actor
==================== ======================================= ==============================================
``set_remote_name``   ``name`` (the director's full name)     remembers it (answers go there)
``get_settings``      -                                       calls ``set_director_settings(settings=XML)``
                                                              back: the whole tree, PyMoDAQ parameter XML
                                                              (a str); the director adds the root's
                                                              children under its ``settings_client``
``send_data_snap``    -                                       one measurement window, then calls
                                                              ``set_data(data=None)`` with one binary
                                                              frame: the serialized ``DataToExport``
``send_data_grab``    -                                       the same, window after window, until
                                                              ``stop_grab``
``stop_grab``         -                                       aborts the window under way (not sent) and
                                                              drops the snaps queued before it
``set_info``          ``parameter=None`` + one binary frame:  applies the setting; calls
                      a serialized ``ParameterWithPath``      ``set_director_info(parameter=None)`` back
                      (path relative to ``settings_client``,  with a ``ParameterWithPath`` of the value
                      XML of that parameter)                  actually applied, path ``[root, *path]``
                                                              (the director drops ``path[0]``)
==================== ======================================= ==============================================

The RPC handlers return at once (the director waits about 1 s for each reply); measurements and the calls
back run in the thread of :meth:`LecoTaggerActor.serve_forever`. At most :data:`QUEUE_MAX` requests wait
there: one more is refused with an error to its caller (never queued without bound). Answers go to the component that asked
(the sender of the request), or, if it is unknown, to every name given with ``set_remote_name``.

Binary frames are the ``SerializableFactory`` serialization of pymodaq_utils/serializall, which
:mod:`..protocol.pymodaq5` writes byte for byte: ``DataToExport`` of ``DataFromPlugins`` (what detector plugins emit; the
director module imports ``pymodaq.utils.data``, which registers that class) with their axis, units,
labels and the capture metadata as extra attributes; ``ParameterWithPath`` = ``[u32 17]"ParameterWithPath"``
+ typed ``list[str]`` path + typed ``bytes`` XML.

Errors: a measurement or settings error is logged, shown in the client status, and sent to the director as
the read-only setting ``error`` (cleared by the next good measurement); no data is sent for that request.

Reconnection: the actor pings the Coordinator every :data:`PING_INTERVAL_S`; with no answer for
:data:`LIVENESS_S` (Coordinator gone) or when the Coordinator says it does not know us (restarted), it signs
in again, retrying with the one backoff (:class:`~..protocol.net.Backoff`) doubling up to ``backoff_max_s``,
reset only by a sign-in answered.
It may be started before the Coordinator. Messages are never queued without bound while the Coordinator is
away (sends do not block; when ZeroMQ's queue is full they are dropped). ``shut_down`` (the LECO call to
stop a component) ends :meth:`~LecoTaggerActor.serve_forever` (as ``Quit`` does in TCP mode).
"""
from __future__ import annotations

import collections
import logging
import queue
import struct
import threading
from time import perf_counter
from typing import Optional

try:
    import zmq
    from pyleco.core.message import Message, MessageTypes
    from pyleco.json_utils.errors import DUPLICATE_NAME, NODE_UNKNOWN, RECEIVER_UNKNOWN, JSONRPCError
    from pyleco.utils.listener import Listener
    from pyleco.utils.pipe_handler import PipeHandler
except ImportError as _exc:  # pragma: no cover - depends on the installation
    raise ImportError(f"the LECO mode needs pyleco (pip install pyleco): {_exc}") from _exc

from ..dataset import PLUGIN_TYPE
from ..hardware.errors import AcquisitionAborted, SettingsError
from .. import data_model
from ..protocol import pymodaq5
from . import COORDINATOR_PORT
from ..protocol.net import BACKOFF_MAX_S, Backoff
from ..protocol.paramxml import Param, to_xml_bytes, to_xml_string
from .service import MeasurementFailed, MeasurementService, edit_path

logger = logging.getLogger(__name__)

#: the actor asks the Coordinator for a sign of life this often, s (also serves as heartbeat)
PING_INTERVAL_S = 1.0
#: no message from the Coordinator for this long while signed in: it is gone, sign in again, s
LIVENESS_S = 3.5
#: how long one sign-in attempt waits for the Coordinator's answer, s
SIGN_IN_TIMEOUT_S = 1.0
#: how long a call back to the director (set_data, ...) waits for its answer, s
SEND_TIMEOUT_S = 3.0
#: wait after a failed measurement in continuous grab before the next one, s
GRAB_ERROR_PAUSE_S = 0.5
#: class name written for each dataset (DataRaw would do too; DataFromPlugins is what plugins emit)
DATA_TYPE_NAME = PLUGIN_TYPE
PARAMETER_WITH_PATH = "ParameterWithPath"
#: read-only setting of the LECO tree showing the last error to the director ('' when fine)
ERROR_PARAM = "error"
#: requests (snaps, settings, set_info) waiting for the actor's thread; more are refused
QUEUE_MAX = 32

# RPC names (pymodaq.utils.leco.rpc_method_definitions)
RPC_GRAB, RPC_SNAP, RPC_STOP = "send_data_grab", "send_data_snap", "stop_grab"
RPC_GET_SETTINGS, RPC_SET_INFO, RPC_SET_REMOTE_NAME = "get_settings", "set_info", "set_remote_name"
DIRECTOR_SET_DATA, DIRECTOR_SET_SETTINGS, DIRECTOR_SET_INFO = (
    "set_data", "set_director_settings", "set_director_info")


# ------------------------------------------------------------------------------- ParameterWithPath
def _header(name: str) -> bytes:
    raw = name.encode("ascii")
    return struct.pack(">I", len(raw)) + raw


def encode_parameter_with_path(path: list[str], xml: bytes | str) -> bytes:
    """``SerializableFactory().get_apply_serializer(ParameterWithPath(param, path))`` without pymodaq_gui:
    the type header, the typed path (list of str), the typed XML of the parameter (bytes, as
    ``parameter_to_xml_string`` returns it)."""
    if isinstance(xml, str):
        xml = xml.encode()
    return _header(PARAMETER_WITH_PATH) + pymodaq5.encode([str(p) for p in path]) + pymodaq5.encode(bytes(xml))


def decode_parameter_with_path(payload: bytes) -> tuple[list[str], bytes | str]:
    """(path, XML) of a serialized ``ParameterWithPath``; :class:`~..data_model.ProtocolError` if it is not one."""
    payload = bytes(payload)
    head = _header(PARAMETER_WITH_PATH)
    if not payload.startswith(head):
        raise data_model.ProtocolError(f"expected a {PARAMETER_WITH_PATH}, got {payload[:40]!r}")
    # the body is two typed objects in a row: read them as the items of a typed list of 2
    path, xml = pymodaq5.decode(_header("list") + struct.pack(">I", 2) + payload[len(head):])
    if not isinstance(path, list) or not all(isinstance(p, str) for p in path):
        raise data_model.ProtocolError(f"{PARAMETER_WITH_PATH}: the path is not a list of str: {path!r}")
    if not isinstance(xml, (bytes, str)):
        raise data_model.ProtocolError(f"{PARAMETER_WITH_PATH}: the XML is a {type(xml).__name__}")
    return path, xml


# ------------------------------------------------------------------------------- pyleco handler
class _ActorHandler(PipeHandler):
    """pyleco message handler of the actor (runs in the listener thread).

    Adds to pyleco's PipeHandler: our RPC methods, a liveness check of the Coordinator and sign-in retries
    with a bounded backoff (pyleco alone re-signs in only when a heartbeat, every 10 s, is refused),
    sends that never block.
    """

    def __init__(self, name: str, actor: "LecoTaggerActor", **kwargs) -> None:
        self._actor = actor  # before super().__init__: it calls register_rpc_methods
        self._backoff = Backoff(self._actor.backoff_max_s)
        self._next_sign_in = 0.0
        self._next_ping = 0.0
        self._last_seen = 0.0
        self._signed_in_at = 0.0
        self._signing_in = False
        self._pings: collections.OrderedDict[bytes, float] = collections.OrderedDict()
        super().__init__(name, **kwargs)
        self.timeout = SIGN_IN_TIMEOUT_S

    # -- RPC (called in this thread: return at once, the actor's thread does the work)
    def register_rpc_methods(self) -> None:
        super().register_rpc_methods()
        self.register_rpc_method(self.send_data_grab, name=RPC_GRAB)
        self.register_rpc_method(self.send_data_snap, name=RPC_SNAP)
        self.register_rpc_method(self.stop_grab, name=RPC_STOP)
        self.register_rpc_method(self.get_settings, name=RPC_GET_SETTINGS)
        self.register_rpc_method(self.set_remote_name, name=RPC_SET_REMOTE_NAME)
        self.register_binary_rpc_method(self.set_info, name=RPC_SET_INFO, accept_binary_input=True)

    def _sender(self) -> Optional[str]:
        try:
            return self.current_message.sender.decode() or None
        except (AttributeError, UnicodeDecodeError):
            return None

    def send_data_grab(self) -> None:
        """Measure window after window and send each to the caller (set_data), until stop_grab."""
        self._actor._start_grab(self._sender())

    def send_data_snap(self) -> None:
        """Measure one window and send it to the caller (set_data)."""
        self._actor._request("snap", self._sender())

    def stop_grab(self) -> None:
        """Stop a continuous grab, abort the window under way and drop the snaps asked before."""
        self._actor._stop_measuring()

    def get_settings(self) -> None:
        """Send the settings tree to the caller (set_director_settings)."""
        self._actor._request("settings", self._sender())

    def set_remote_name(self, name: str) -> None:
        """Where to send answers when the requester is not known."""
        self._actor._add_remote_name(name)

    def set_info(self, parameter=None, additional_payload=None) -> None:
        """Apply one setting: a ParameterWithPath in the binary payload."""
        if not additional_payload:
            raise ValueError("set_info expects a ParameterWithPath as binary payload")
        path, xml = decode_parameter_with_path(additional_payload[0])
        self._actor._request("set_info", self._sender(), path, xml)

    # -- sign-in with retries, liveness
    def sign_in(self) -> None:
        string = self.rpc_generator.build_request_str(method="sign_in")
        self._signing_in = True
        try:
            msg = self.ask(b"COORDINATOR", data=string, message_type=MessageTypes.JSON)
            self.interpret_rpc_response(msg)
        except JSONRPCError as exc:
            if exc.rpc_error.code == DUPLICATE_NAME.code:
                reason = f"the name {self.name!r} is already taken on the Coordinator"
            else:
                reason = f"the Coordinator refused the sign-in: {exc.rpc_error.message}"
            self._actor._sign_in_failed(reason)
        except TimeoutError:
            self._actor._sign_in_failed("")
        else:
            self.finish_sign_in(msg)
        finally:
            self._signing_in = False
            self._schedule_sign_in()

    def _schedule_sign_in(self) -> None:
        now = perf_counter()
        if self.namespace is None:
            self._next_sign_in = now + self._backoff.wait_s()

    def handle_not_signed_in(self) -> None:
        if self._signing_in:  # a late refusal read while signing in: the sign-in under way decides
            return
        self.log.info("the Coordinator does not know us (restarted?): signing in again")
        self.namespace = None
        self.sign_in()

    def check_for_not_signed_in_error(self, message: Message) -> None:
        sent = self._pings.get(message.conversation_id)
        if sent is not None and sent < self._signed_in_at:
            return  # the answer to a ping sent before the last sign-in
        super().check_for_not_signed_in_error(message)

    def set_full_name(self, full_name: str) -> None:
        super().set_full_name(full_name)
        if not hasattr(self, "_pings"):  # during __init__
            return
        signed_in = self.namespace is not None
        if signed_in:
            now = perf_counter()
            self._signed_in_at = self._last_seen = now
            self._next_ping = now + PING_INTERVAL_S
            self._backoff.reset()  # a sign-in answered: data were exchanged
        self._actor._signed_in_changed(signed_in, full_name)

    def _listen_setup(self, **kwargs):
        poller = super()._listen_setup(**kwargs)  # one sign-in attempt
        self.next_beat = float("inf")  # our pings replace pyleco's heartbeats
        return poller

    def _listen_loop_element(self, poller, waiting_time):
        socks = super()._listen_loop_element(poller=poller, waiting_time=waiting_time)
        self.next_beat = float("inf")
        now = perf_counter()
        if self.namespace is None:
            if now >= self._next_sign_in:
                self.sign_in()
        elif now - self._last_seen > LIVENESS_S:
            self.log.info("no answer from the Coordinator for %.1f s: signing in again", now - self._last_seen)
            self.namespace = None
            self._next_sign_in = now
        elif now >= self._next_ping:
            self._ping(now)
        return socks

    def _ping(self, now: float) -> None:
        msg = Message(b"COORDINATOR", data=self.rpc_generator.build_request_str(method="pong"),
                      message_type=MessageTypes.JSON)
        self._pings[msg.conversation_id] = now
        while len(self._pings) > 16:
            self._pings.popitem(last=False)
        self._next_ping = now + PING_INTERVAL_S
        self.send_message(msg)

    def handle_message(self, message: Message) -> None:
        self._last_seen = perf_counter()
        super().handle_message(message)

    def process_json_message(self, message: Message) -> Optional[Message]:
        # pyleco logs every request at INFO (with its payload): one line per grab is too much
        self.log.debug("handling %s", message)
        return self.rpc_handler.process_request(message=message)

    def handle_json_result(self, message: Message) -> None:
        if message.conversation_id in self._pings:
            return
        if message.sender_elements.name == b"COORDINATOR":
            if self.namespace is None:  # the late answer to a sign-in that had timed out
                self.finish_sign_in(message)
            return
        super().handle_json_result(message)

    def handle_json_error(self, message: Message) -> None:
        if message.conversation_id in self._pings or message.sender_elements.name == b"COORDINATOR":
            self.log.debug("error from the Coordinator: %s", message.payload[:1])
            return
        super().handle_json_error(message)

    def _listen_close(self, waiting_time=None) -> None:
        if self.namespace is None:
            return  # nobody to sign out from (and no 1 s wait for an absent Coordinator)
        super()._listen_close(waiting_time=waiting_time)

    # -- sends never block (the Coordinator may be away for hours)
    def _send_socket_message(self, message: Message) -> None:
        self._send_frames(message.to_frames())

    def _send_frames(self, frames: list) -> None:
        try:
            self.socket.send_multipart(frames, flags=zmq.NOBLOCK)
        except zmq.Again:
            self.log.debug("message dropped: the Coordinator is unreachable and the send queue is full")


class _ActorListener(Listener):
    def __init__(self, actor: "LecoTaggerActor", name: str, host: str, port: int) -> None:
        self._actor = actor
        super().__init__(name, host=host, port=port, timeout=SEND_TIMEOUT_S)

    def _listen(self, name, stop_event, coordinator_host, coordinator_port, data_host, data_port) -> None:
        self.message_handler = _ActorHandler(name, self._actor, host=coordinator_host, port=coordinator_port,
                                             data_host=data_host, data_port=data_port,
                                             log=logging.getLogger(f"{__name__}.pyleco"))
        self.message_handler.listen(stop_event=stop_event)


# ------------------------------------------------------------------------------- the actor
class LecoTaggerActor:
    """Serve ``service`` (a :class:`~.service.MeasurementService`, through its public methods) as a LECO actor.

    :meth:`serve_forever` blocks (call :meth:`shutdown` from another thread, or interrupt it) and frees the
    tagger when it returns.
    """

    def __init__(self, service: MeasurementService, host: str = "localhost", port: int = COORDINATOR_PORT,
                 name: str = "timetagger", *, backoff_max_s: float = BACKOFF_MAX_S) -> None:
        if not name or "." in name:
            raise ValueError(f"LECO name {name!r}: give a non-empty name without '.'")
        self.service = service
        service.type_name = DATA_TYPE_NAME
        self.host, self.port, self.name = host, int(port), name
        self.backoff_max_s = float(backoff_max_s)
        #: set by stop_grab and shutdown: aborts the window under way
        self._abort = threading.Event()
        self.remote_names: set[str] = set()
        self.listener: Optional[_ActorListener] = None
        self._lock = threading.Lock()
        self._queue: queue.Queue = queue.Queue(QUEUE_MAX)
        #: incremented by every stop: snaps asked before the last stop are dropped
        self._generation = 0
        self._grabbing = threading.Event()
        self._grab_target: Optional[str] = None
        self._signed_in = threading.Event()
        self._stop = threading.Event()
        self._shown_error = ""
        self._shown_device = ""
        self._sign_in_problem = ""
        service.status.server = f"LECO coordinator {host}:{self.port} as {name!r}"
        service.status.connected = False

    # ------------------------------------------------------------------ public
    @property
    def signed_in(self) -> bool:
        return self._signed_in.is_set()

    def serve_forever(self) -> int:
        """Sign in, serve, sign in again after losses, until :meth:`shutdown` or a LECO ``shut_down``.
        Returns 0. Frees the tagger."""
        c = self.service
        try:
            c.open_or_report()
            self._start_listener()
            c.report()
            restarts = Backoff(self.backoff_max_s)
            while not self._stop.is_set():
                if not self.listener.thread.is_alive():
                    if self.listener.stop_event.is_set():
                        logger.info("LECO shut_down received: the actor stops")
                        return 0
                    delay = restarts.wait_s()
                    logger.error("the LECO listener stopped unexpectedly; restarting it in %.1f s", delay)
                    self._stop.wait(delay)
                    self._start_listener()
                    continue
                self._step()
            return 0
        finally:
            self._stop_listener()
            c.close()

    def shutdown(self) -> None:
        """Stop serving (thread-safe, may be called repeatedly): the window under way is aborted,
        serve_forever signs out and returns."""
        self._stop.set()
        self._stop_measuring()
        self._wake()

    def _wake(self) -> None:
        try:
            self._queue.put_nowait(("wake", None, self._generation))
        except queue.Full:  # the worker has plenty to wake up for
            pass

    # ------------------------------------------------------------------ listener
    def _start_listener(self) -> None:
        self._stop_listener()
        self.listener = _ActorListener(self, self.name, self.host, self.port)
        self.listener.start_listen()
        self._comm = self.listener.get_communicator(timeout=SEND_TIMEOUT_S)

    def _stop_listener(self) -> None:
        if self.listener is not None:
            try:
                self.listener.stop_listen()
            except Exception as e:  # a broken listener must not prevent freeing the tagger
                logger.debug("stopping the LECO listener: %s", e)
        self._signed_in.clear()

    # called in the listener thread
    def _signed_in_changed(self, signed_in: bool, full_name: str) -> None:
        if signed_in:
            self._signed_in.set()
            self._sign_in_problem = ""
            logger.info("signed in to the LECO coordinator %s:%d as %s", self.host, self.port, full_name)
            if self.service.status.last_error.startswith("LECO:"):
                self.service.status.last_error = ""
        else:
            if self._signed_in.is_set():
                logger.info("signed out of / lost the LECO coordinator %s:%d", self.host, self.port)
            self._signed_in.clear()
        self.service.status.connected = signed_in
        self.service.report()

    def _sign_in_failed(self, reason: str) -> None:
        if reason and reason != self._sign_in_problem:
            self.service.error(f"LECO: {reason}")
        elif not reason:
            logger.debug("no answer from the LECO coordinator %s:%d", self.host, self.port)
        self._sign_in_problem = reason

    def _add_remote_name(self, name: str) -> None:
        if name:
            with self._lock:
                self.remote_names.add(str(name))

    def _start_grab(self, sender: Optional[str]) -> None:
        with self._lock:
            self._grab_target = sender
            self._grabbing.set()
        self._wake()

    def _request(self, kind: str, sender: Optional[str], *args) -> None:
        """Queue a request for the worker (called in the listener thread); refused when QUEUE_MAX wait."""
        try:
            self._queue.put_nowait((kind, sender, self._generation, *args))
        except queue.Full:
            raise RuntimeError(f"{QUEUE_MAX} requests are already waiting: {kind} refused "
                               f"(stop_grab drops the waiting snaps)") from None

    def _stop_measuring(self) -> None:
        """stop_grab: no more live windows, the window under way aborted, the snaps queued so far dropped."""
        with self._lock:
            self._grabbing.clear()
            self._generation += 1
            self._abort.set()
        kept = []  # free the queue of the snaps at once (the worker would skip them, but they take room)
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item[0] not in ("snap", "wake"):
                kept.append(item)
        for item in kept:
            try:
                self._queue.put_nowait(item)
            except queue.Full:  # only if new requests came meanwhile: they are newer, keep them
                logger.warning("LECO: a %s request dropped by stop_grab (queue full)", item[0])

    def _begin(self, generation: Optional[int]) -> bool:
        """Whether a measurement asked at ``generation`` (None: the live grab) is still wanted; if so, a
        stop from now on aborts it (and not one that came before)."""
        with self._lock:
            wanted = self._grabbing.is_set() if generation is None else generation == self._generation
            if wanted:
                self._abort.clear()
            return wanted

    # ------------------------------------------------------------------ worker
    def _step(self) -> None:
        if self._grabbing.is_set() and self._signed_in.is_set():
            try:
                cmd = self._queue.get_nowait()
            except queue.Empty:
                if self._begin(None):
                    self._frame(self._grab_target, live=True)
                return
        else:
            try:
                cmd = self._queue.get(timeout=0.2)
            except queue.Empty:
                return
        kind, sender, generation, *args = cmd
        if kind == "snap":
            if self._begin(generation):
                self._frame(sender, live=False)
            else:
                logger.debug("a snap asked before stop_grab: dropped")
        elif kind == "settings":
            self._send(self._targets(sender), DIRECTOR_SET_SETTINGS, settings=self._tree_xml())
            self._shown_error = self.service.status.last_error
            self._shown_device = self._device()
        elif kind == "set_info":
            self._set_info(sender, *args)

    def _targets(self, sender: Optional[str]) -> list[str]:
        if sender:
            return [sender]
        with self._lock:
            return sorted(self.remote_names)

    def _frame(self, sender: Optional[str], live: bool) -> None:
        """Measure one window (every measurement of the client) and send it to the requester."""
        targets = self._targets(sender)
        c = self.service
        try:
            dte = c.answer(None, self._abort)  # every measurement of the service, one DataToExport
        except AcquisitionAborted as e:  # stop_grab or shutdown: nobody waits for this window
            logger.info("%s", e)
            return
        except MeasurementFailed:  # reported by the service (status, log)
            self._failed(targets, live)
            return
        if live and not self._grabbing.is_set():
            return  # stopped during the window: the director does not expect it any more
        payload = pymodaq5.encode(dte)
        if not targets:
            logger.warning("measured, but nobody to send the data to (no requester, no set_remote_name)")
            return
        if self._send(targets, DIRECTOR_SET_DATA, data=None, additional_payload=[payload]):
            c.served()
        self._update_shown(targets)

    def _failed(self, targets: list[str], live: bool) -> None:
        self._update_shown(targets)
        if live:
            self._stop.wait(GRAB_ERROR_PAUSE_S)

    def _update_shown(self, targets: list[str]) -> None:
        """Keep the director's read-only 'error' and 'device' settings current."""
        error = self.service.status.last_error
        if error != self._shown_error:
            self._shown_error = error
            self._send_param(targets, [ERROR_PARAM], self._error_param(error))
        device = self._device()
        if device != self._shown_device:
            self._shown_device = device
            tree = self._tree()
            self._send_param(targets, ["device"], tree.child("device"))

    def _send_param(self, targets: list[str], path: list[str], param: Param) -> None:
        if targets:
            # the director drops path[0] (the root's name) and sets settings_client/path[1:]
            self._send(targets, DIRECTOR_SET_INFO, parameter=None, additional_payload=[
                encode_parameter_with_path([self._tree().name, *path], to_xml_bytes(param))])

    def _send(self, targets: list[str], method: str, **kwargs) -> bool:
        """Call ``method`` on each target; False if none answered. Unknown targets are forgotten."""
        ok = False
        for name in targets:
            try:
                self._comm.ask_rpc(name, method, timeout=SEND_TIMEOUT_S, **kwargs)
                ok = True
            except JSONRPCError as exc:
                if exc.rpc_error.code in (RECEIVER_UNKNOWN.code, NODE_UNKNOWN.code):
                    logger.info("%s is not on the LECO network any more: forgotten", name)
                    with self._lock:
                        self.remote_names.discard(name)
                    if self._grab_target == name:
                        self._grabbing.clear()
                else:
                    logger.warning("%s answered %s with an error: %s", name, method, exc)
            except TimeoutError:
                logger.warning("no answer from %s to %s within %.0f s", name, method, SEND_TIMEOUT_S)
            except ConnectionRefusedError as exc:  # the listener is restarting
                logger.warning("cannot send %s to %s: %s", method, name, exc)
        return ok

    # ------------------------------------------------------------------ settings
    def _device(self) -> str:
        h = self.service.handle
        return h.description if h is not None else "not open"

    @staticmethod
    def _error_param(text: str) -> Param:
        return Param(name=ERROR_PARAM, type="str", value=text, title="Last error", readonly=True)

    def _tree(self) -> Param:
        tree = self.service.settings_tree()
        tree.children.append(self._error_param(self.service.status.last_error))
        return tree

    def _tree_xml(self) -> str:
        return to_xml_string(self._tree())

    def _set_info(self, sender: Optional[str], path: list[str], xml) -> None:
        """Apply a setting edited on the director; answer with the value applied (set_director_info)."""
        c = self.service
        try:
            c.apply_edit(path, xml)
        except SettingsError as e:  # the one error of a refused value (settings.py)
            c.refused(f"set_info {'/'.join(map(str, edit_path(path)))}: {e}")
        targets = self._targets(sender)
        self._update_shown(targets)
        path = edit_path(path)
        if not path:
            return
        try:
            applied = self._tree().child(*path)
        except KeyError:
            return
        self._send_param(targets, path, applied)


__all__ = ["LecoTaggerActor", "COORDINATOR_PORT", "encode_parameter_with_path", "decode_parameter_with_path"]
