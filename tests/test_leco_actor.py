"""LECO actor mode of the standalone client, end to end on 127.0.0.1.

A real pyleco Coordinator (bound to 127.0.0.1 only) and our actors (simulated tagger, ``address='sim'``) run
in child processes; PyMoDAQ's own ``DAQ_1DViewer_LECODirector`` / ``DAQ_0DViewer_LECODirector`` run here,
through PyMoDAQ's plugin harness. The actors are started before the Coordinator (it is "not there yet").
"""
import json
import os
import signal
import subprocess
import sys
import time
from functools import partial

import numpy as np
import pytest

pytest.importorskip("pyleco", reason="the LECO mode needs pyleco (pip install pyleco)")
from pymodaq.utils.plugin_testing import grab_and_wait, make_detector  # noqa: E402

from tests.support.lecokit import directors  # noqa: E402

director_1d, director_0d = directors()

from pymodaq_plugins_timetagger import data_model
from pymodaq_plugins_timetagger.protocol import pymodaq5
from pymodaq_plugins_timetagger.bridge.leco_actor import (  # noqa: E402
    decode_parameter_with_path, encode_parameter_with_path)
from pymodaq_plugins_timetagger.dataset import result_to_data  # noqa: E402
from pymodaq_plugins_timetagger.runs import AxisSpec, Result  # noqa: E402

from tests.support.lecokit import (HOST, WATCH_PARENT, Child, components, start_coordinator,  # noqa: E402
                                   wait_signed_in)
from tests.support.processes import GROUP, WINDOWS, free_port, pump, stop_process  # noqa: E402

ACTOR = WATCH_PARENT + """
import json, logging, sys
from pymodaq_plugins_timetagger.bridge.link import run_until_interrupted
from pymodaq_plugins_timetagger.bridge.leco_actor import LecoTaggerActor
from pymodaq_plugins_timetagger.bridge.service import MeasurementService
from pymodaq_plugins_timetagger.runs import make_settings

host, port, name, kind, values, test_signal = sys.argv[1:7]
logging.basicConfig(level=logging.INFO, format='%(asctime)s %(levelname)s %(name)s: %(message)s')
service = MeasurementService('sim', kind, make_settings(kind, **json.loads(values)),
                             on_status=lambda st: print(st.line(), flush=True),
                             test_signal=tuple(json.loads(test_signal)))
actor = LecoTaggerActor(service, host, int(port), name, backoff_max_s=0.5)
code = run_until_interrupted(actor)  # Ctrl-C, Ctrl-Break, SIGTERM
print('EXIT', code, 'tagger freed' if service.handle is None else 'tagger NOT freed', flush=True)
sys.exit(code)
"""


def start_actor(tmp, port, name, kind, values, test_signal=()) -> Child:
    return Child(tmp, name, ACTOR, HOST, port, name, kind, json.dumps(values), json.dumps(list(test_signal)))


@pytest.fixture(scope="module")
def leco(tmp_path_factory):
    """Coordinator + two actors (correlation, countrate); the actors are started first."""
    tmp = tmp_path_factory.mktemp("leco")
    port = free_port()
    actors = {
        "tt_corr": start_actor(tmp, port, "tt_corr", "correlation",
                               {"binwidth_ps": 500, "n_bins": 201, "integration_s": 0.5}),
        "tt_rate": start_actor(tmp, port, "tt_rate", "countrate",
                               {"channels": [6, 7], "integration_s": 0.1}, test_signal=(6, 7)),
    }
    env = {"tmp": tmp, "port": port, "actors": actors, "coordinator": None}
    try:
        time.sleep(1.0)  # the actors try to sign in to nobody
        env["coordinator"] = start_coordinator(tmp, port)
        for name, actor in actors.items():
            env[f"{name}_sign_in_s"] = wait_signed_in(port, name, actor)
        yield env
    finally:
        for actor in actors.values():
            actor.stop()
        if env["coordinator"] is not None:  # the restart test replaces it
            env["coordinator"].stop()


@pytest.fixture
def director(leco):
    made = []

    def _make(cls, actor_name):
        det = make_detector(partial(cls, host=HOST, port=leco["port"]), actor_name=actor_name)
        made.append(det)
        assert det.initialized, det.init_info
        return det

    yield _make
    for det in made:
        det.close()


def wait_settings(det, name, timeout=5):
    deadline = time.monotonic() + timeout
    while name not in [c.name() for c in det.settings.child("settings_client").children()]:
        assert time.monotonic() < deadline, "the actor's settings did not reach the director"
        pump(0.02)


def wait_value(det, name, expected, timeout=5):
    deadline = time.monotonic() + timeout
    while det.settings["settings_client", name] != expected and time.monotonic() < deadline:
        pump(0.02)
    return det.settings["settings_client", name]


# ------------------------------------------------------------------------------- without network
def test_parameter_with_path_is_pymodaqs():
    from pymodaq_gui.parameter import Parameter
    from pymodaq_gui.parameter.utils import ParameterWithPath
    from serializall import SerializableFactory
    param = Parameter.create(name="binwidth_ps", type="int", value=500, title="binwidth_ps")
    theirs = SerializableFactory().get_apply_serializer(ParameterWithPath(param, ["correlation", "binwidth_ps"]))
    path, xml = decode_parameter_with_path(theirs)
    assert path == ["correlation", "binwidth_ps"] and b">500</binwidth_ps>" in xml
    assert encode_parameter_with_path(path, xml) == theirs
    back = SerializableFactory().get_apply_deserializer(encode_parameter_with_path(["a", "b"], xml))
    assert back.path == ["a", "b"] and back.value() == 500
    with pytest.raises(data_model.ProtocolError):
        decode_parameter_with_path(pymodaq5.encode("not a parameter"))


def test_several_measurements_in_one_data_to_export():
    from serializall import SerializableFactory
    from pymodaq.utils.data import DataFromPlugins  # registers DataFromPlugins, as the director does
    rate = Result("Countrate", "Data0D", [np.array([5.0]), np.array([7.0])], ["ch1", "ch2"], "Hz",
                  metadata={"capture_duration_s": 0.1, "device": "SIM"})
    g2_0 = Result("g2(0)", "Data0D", [np.array([0.1])], ["g2(0)"], "")
    corr = Result("Correlation", "Data1D", [np.arange(5.0)], ["g2"], "",
                  axis=AxisSpec("delay", "s", np.linspace(-2e-12, 2e-12, 5)), companions=[g2_0])
    dte = SerializableFactory().get_apply_deserializer(pymodaq5.encode(result_to_data([rate, corr])))
    assert [d.name for d in dte] == ["Countrate", "Correlation", "g2(0)"]
    assert all(isinstance(d, DataFromPlugins) for d in dte)
    assert dte.get_data_from_name("Countrate").capture_duration_s == 0.1
    axis = dte.get_data_from_name("Correlation").get_axis_from_index(0)[0]
    assert axis.units == "s" and axis.label == "delay"


def test_the_actor_never_imports_qt_or_pymodaq():
    from tests.support.isolation import PYMODAQ, QT, loaded
    assert loaded(["pymodaq_plugins_timetagger.bridge.leco_actor"], QT + PYMODAQ) == []


# ------------------------------------------------------------------------------- end to end
def test_actors_started_before_the_coordinator_sign_in(leco):
    # backoff_max_s = 0.5 and 1 s sign-in attempts: in well under 5 s once the Coordinator is there
    assert leco["tt_corr_sign_in_s"] < 5 and leco["tt_rate_sign_in_s"] < 5


def test_1d_director_correlation_settings_and_set_info(leco, director):
    det = director(director_1d.DAQ_1DViewer_LECODirector, "tt_corr")
    wait_settings(det, "error")
    # get_settings mirrored under settings_client
    assert det.settings["settings_client", "measurement"] == "correlation"
    assert det.settings["settings_client", "address"] == "sim"
    assert det.settings["settings_client", "binwidth_ps"] == 500
    assert det.settings["settings_client", "n_bins"] == 201
    assert det.settings["settings_client", "error"] == ""
    assert "SIMULATED" in det.settings["settings_client", "device"]

    dte = grab_and_wait(det, timeout_ms=10000)
    g2 = dte.get_data_from_name("Correlation")
    axis = g2.get_axis_from_index(0)[0]
    assert g2.dim.name == "Data1D" and g2.shape == (201,)
    assert axis.label == "delay" and axis.units == "s"
    assert axis.get_data()[101] - axis.get_data()[100] == pytest.approx(500e-12)
    g2_0 = dte.get_data_from_name("g2(0)").data[0][0]
    assert 0 <= g2_0 < 0.5 < np.mean(g2.data[0][:40])  # the simulated single emitter, through LECO
    assert g2.capture_duration_s == pytest.approx(0.5)

    # set_info round trip: edited on the director, applied by the actor, the applied value shown back
    p = det.settings.child("settings_client", "binwidth_ps")
    p.setValue(1000)
    det.commit_settings(p)
    pump(0.3)
    ax = grab_and_wait(det, timeout_ms=10000).get_data_from_name("Correlation").get_axis_from_index(0)[0]
    assert ax.get_data()[1] - ax.get_data()[0] == pytest.approx(1000e-12)
    assert wait_value(det, "binwidth_ps", 1000) == 1000

    # a bad value is refused: the error is shown and the actor's value is put back
    p = det.settings.child("settings_client", "n_bins")
    p.setValue(0)
    det.commit_settings(p)
    deadline = time.monotonic() + 5
    while "n_bins" not in det.settings["settings_client", "error"] and time.monotonic() < deadline:
        pump(0.02)
    assert "n_bins" in det.settings["settings_client", "error"]
    assert wait_value(det, "n_bins", 201) == 201
    assert grab_and_wait(det, timeout_ms=10000).get_data_from_name("Correlation").shape == (201,)
    assert wait_value(det, "error", "") == ""  # a good measurement clears it


def test_0d_director_countrate_snap_and_live_grab(leco, director):
    det = director(director_0d.DAQ_0DViewer_LECODirector, "tt_rate")
    wait_settings(det, "channels")
    assert det.settings["settings_client", "measurement"] == "countrate"
    dte = grab_and_wait(det, timeout_ms=10000)
    rate = dte.get_data_from_name("Countrate")
    assert rate.dim.name == "Data0D" and rate.units == "Hz" and rate.labels == ["ch6", "ch7"]
    np.testing.assert_allclose([d[0] for d in rate.data], 800e3, atol=1 / 0.1)

    # live: window after window until stop_grab
    got = []
    det.dte_signal.connect(got.append)
    try:
        det.grab_data(1, live=True)
        deadline = time.monotonic() + 10
        while len(got) < 3 and time.monotonic() < deadline:
            pump(0.02)
        assert len(got) >= 3
        det.stop()
        pump(0.4)  # the window under way is dropped
        n = len(got)
        pump(0.5)
        assert len(got) == n
    finally:
        det.dte_signal.disconnect(got.append)


def test_coordinator_restart(leco, director):
    port, tmp = leco["port"], leco["tmp"]
    det = director(director_0d.DAQ_0DViewer_LECODirector, "tt_rate")  # made before: the dashboard case
    assert grab_and_wait(det, timeout_ms=10000).get_data_from_name("Countrate").units == "Hz"
    leco["coordinator"].kill()
    time.sleep(0.3)
    leco["coordinator"] = start_coordinator(tmp, port, tag="coordinator2")
    for name, actor in leco["actors"].items():
        assert wait_signed_in(port, name, actor, timeout=15) < 15
    # the director signs in again when the new Coordinator refuses one of its calls: retry a few times
    deadline = time.monotonic() + 15
    while True:
        try:
            dte = grab_and_wait(det, timeout_ms=3000)
            break
        except Exception as exc:  # JSONRPCError (not signed in), SignalTimeout
            assert time.monotonic() < deadline, f"no data after the restart: {exc!r}"
            pump(0.2)
    assert dte.get_data_from_name("Countrate").units == "Hz"


def test_shut_down_and_sigterm_end_the_actor_and_free_the_tagger(leco):
    from pyleco.utils.communicator import Communicator
    tmp, port = leco["tmp"], leco["port"]
    actor = start_actor(tmp, port, "tt_extra", "countrate", {"integration_s": 0.1})
    wait_signed_in(port, "tt_extra", actor)
    with Communicator(name=f"stopper{os.getpid()}", host=HOST, port=port, timeout=2) as comm:
        comm.ask_rpc("tt_extra", "shut_down")
    assert actor.proc.wait(10) == 0
    assert "EXIT 0 tagger freed" in actor.output()
    actor.stop()

    actor = start_actor(tmp, port, "tt_extra2", "countrate", {"integration_s": 0.1})
    wait_signed_in(port, "tt_extra2", actor)
    assert actor.stop(None if WINDOWS else signal.SIGTERM) == 0  # Windows: Ctrl-Break
    assert "EXIT 0 tagger freed" in actor.output()
    assert "tt_extra2" not in components(port)  # signed out


def test_the_command_line_in_leco_mode(leco, director, tmp_path):
    """pymodaq-timetagger-client --transport leco: the same actor, started as a user starts it."""
    log = tmp_path / "cli.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "pymodaq_plugins_timetagger.bridge", "--transport", "leco",
                                 "--leco-host", HOST, "--leco-port", str(leco["port"]), "--name", "tt_cli",
                                 "--address", "sim:tt20", "--measurement", "countrate", "--channels", "5",
                                 "--test-signal", "5", "--integration-s", "0.1", "--backoff-max-s", "0.5"],
                                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, **GROUP)
    try:
        deadline = time.monotonic() + 30
        while "tt_cli" not in components(leco["port"]):  # imports, opens the tagger, signs in
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text(encoding="utf-8")[-3000:]
            time.sleep(0.1)
        det = director(director_0d.DAQ_0DViewer_LECODirector, "tt_cli")
        dte = grab_and_wait(det, timeout_ms=10000)
        rate = dte.get_data_from_name("Countrate")
        assert rate.labels == ["ch5"] and abs(rate.data[0][0] - 1e12 / 1_184_000) <= 1 / 0.1  # TT20
    finally:
        assert stop_process(proc, timeout=15) == 0, log.read_text(encoding="utf-8")[-3000:]
    out = subprocess.run([sys.executable, "-m", "pymodaq_plugins_timetagger.bridge", "--transport", "leco",
                          "--protocol", "classic"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "--protocol applies to --transport tcp only" in out.stderr


def test_stop_grab_aborts_the_window_and_drops_the_queued_snaps(leco):
    """300 send_data_snap then stop_grab: at most QUEUE_MAX wait (the rest are refused to the caller), the
    window under way (20 s) is aborted, none of the queued snaps is measured, get_settings is answered at once.
    Before: all 300 windows were measured first."""
    from pyleco.json_utils.errors import JSONRPCError
    from pyleco.utils.listener import Listener

    from pymodaq_plugins_timetagger.bridge.leco_actor import QUEUE_MAX
    tmp, port = leco["tmp"], leco["port"]
    actor = start_actor(tmp, port, "tt_busy", "countrate", {"integration_s": 20.0})
    wait_signed_in(port, "tt_busy", actor)
    got = {"data": 0, "settings": []}

    def set_data(data=None, additional_payload=None):
        got["data"] += 1

    def set_director_settings(settings):
        got["settings"].append(settings)

    def set_director_info(parameter=None, additional_payload=None):
        pass

    listener = Listener(f"fakedirector{os.getpid()}", host=HOST, port=port, data_host=HOST, timeout=2)
    listener.start_listen()
    try:
        listener.register_binary_rpc_method(set_data, name="set_data", accept_binary_input=True)
        listener.register_rpc_method(set_director_settings, name="set_director_settings")
        listener.register_binary_rpc_method(set_director_info, name="set_director_info", accept_binary_input=True)
        comm = listener.get_communicator()
        refused = 0
        for _ in range(300):
            try:
                comm.ask_rpc("tt_busy", "send_data_snap", timeout=2)
            except JSONRPCError as exc:
                assert "requests are already waiting" in str(exc)
                refused += 1
        assert refused >= 300 - QUEUE_MAX - 1
        time.sleep(0.3)  # the first window is under way
        t0 = time.monotonic()
        comm.ask_rpc("tt_busy", "stop_grab", timeout=2)
        comm.ask_rpc("tt_busy", "get_settings", timeout=2)
        while not got["settings"] and time.monotonic() - t0 < 10:
            time.sleep(0.01)
        answered_s = time.monotonic() - t0
        print(f"get_settings answered {answered_s:.3f} s after stop_grab (windows of 20 s; {refused} snaps refused)")
        assert got["settings"] and answered_s < 5, actor.output()[-3000:]
        assert got["data"] == 0
        assert "acquisition stopped before the end" in actor.output()
    finally:
        listener.stop_listen()
        assert actor.stop() == 0
