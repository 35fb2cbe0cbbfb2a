"""What the headless client checks at start, and what its status line says at both ends of its life.

At start it opens the tagger and checks the settings against it: a channel the model does not have exits 2
naming the option. Pointed at a peer that is not a PyMoDAQ server (a plain HTTP server on 127.0.0.1), it says so
within the handshake timeout instead of "connected". After Ctrl-C, the status line says it stops, not that it
waits for the server it leaves.
"""
import http.server
import threading

import pytest

from pymodaq_plugins_timetagger.bridge.__main__ import main
from tests.support.bridge import start_client, stop_client
from tests.support.processes import Client, free_port, wait_for

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize("args,option,words", [
    (["--channels", "1,19"], "--channels", "channel 19 does not exist on this Time Tagger Ultra"),
    (["--measurement", "correlation", "--channel-2", "-12"], "--channel-2", "-12 does not exist"),
    (["--test-signal", "30"], "--test-signal", "channel 30 does not exist"),
])
def test_a_setting_the_tagger_does_not_have_exits_2_naming_the_option(capsys, args, option, words):
    with pytest.raises(SystemExit) as exit_:
        main(["--address", "sim", "--host", "127.0.0.1", "--port", str(free_port()), *args])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and option in err and words in err, err


@pytest.fixture
def http_server():
    class Quiet(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_a_peer_that_is_not_a_pymodaq_server_is_named_as_such(http_server):
    seen = []
    client, t = start_client(http_server, on_status=lambda st: seen.append((st.connected, st.waiting_reason)))
    try:
        wait_for(lambda: any("not a PyMoDAQ server" in reason for _, reason in seen), client.connect_timeout,
                 "'not a PyMoDAQ server' within the handshake timeout")
    finally:
        stop_client(client, t)


def test_after_ctrl_c_the_status_line_says_it_stops(tmp_path):
    from pymodaq_plugins_timetagger.protocol.server import BridgeServer
    server = BridgeServer("127.0.0.1", 0).start()
    try:
        client = Client(server.port, tmp_path=tmp_path)
        wait_for(lambda: "] connected to" in client.output(), 30, "the client connected")
        assert client.stop() == 0
        out = client.output()
        after = out[out.index("stopping: aborting"):]
        assert "waiting for" not in after and "stopping: freeing the Time Tagger" in after, out
    finally:
        server.stop()


def test_record_records_the_windows_of_the_tagger_opened_at_start(tmp_path):
    """``--record DIR``: the tagger opened at start (to check the options) records too; a grab's file is in DIR."""
    from pymodaq_plugins_timetagger.protocol.server import BridgeServer
    from pymodaq_plugins_timetagger.recording.photon_hdf5 import read_recording
    where = tmp_path / "tags"
    where.mkdir()
    server = BridgeServer("127.0.0.1", 0).start()
    try:
        client = Client(server.port, "--integration-s", "0.01", "--record", str(where), tmp_path=tmp_path)
        wait_for(lambda: server.clients(), 30, "the client connected")
        dte = server.request("0D", timeout=30)
        assert client.stop() == 0
        files = sorted(where.rglob("*.h5"))
        assert dte.data and files and read_recording(str(files[0])).n_tags > 0, client.output()[-2000:]
    finally:
        server.stop()
