"""The pymodaq4 dialect (PyMoDAQ 4.1-4.4) against PyMoDAQ 4.4.11's own serializer, byte for byte, both ways.

The 4.4.11 frames come from ``tests/interop/pmq44_frames.py`` run in the 4.4.11 leg's venv
(``tests/interop/venvs.py``); the hostile-input tests need no venv.
"""
import json
import socket
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests.interop.venvs import LEG_44, leg_env, python_or_skip
from pymodaq_plugins_timetagger import data_model
from pymodaq_plugins_timetagger.protocol import codec
from pymodaq_plugins_timetagger.protocol import classic
from pymodaq_plugins_timetagger.protocol import dialect4 as D
from pymodaq_plugins_timetagger.data_model import ProtocolError
from pymodaq_plugins_timetagger.protocol.dialects import CLASSIC, PYMODAQ4
from pymodaq_plugins_timetagger.protocol import connection as C

SCRIPT = Path(__file__).parent / "interop" / "pmq44_frames.py"
TS = 1700000000.25
pytestmark = pytest.mark.timeout(300)


def expected() -> dict:
    """The values pmq44_frames.cases() builds, as our codec objects, as 4.4.11 writes them: a DataToExport
    names itself the origin of its DataWithAxes, missing labels become CH00..., DataFromPlugins carries
    do_plot/do_save."""
    corr = data_model.DataWithAxes(name="Correlation", data=[np.array([0.5, 1.0, 1.25, 1.0, 0.75])], dim="Data1D",
                          labels=["g2 ch1-ch2"], origin="Correlation", timestamp=TS,
                          axes=[data_model.Axis("delay", "s", np.array([0.0, 1.0, 2.5, 4.0, 8.0]), 0, 0)],
                          extra={"binwidth_ps": 500, "normalize": True, "channels": "1-2", "rate_hz": 1.5})
    g20 = data_model.DataWithAxes(name="g2(0)", data=[np.array([0.25])], dim="Data0D", labels=["CH00"],
                         origin="Correlation", timestamp=TS)
    img = data_model.DataWithAxes(name="Camera", data=[np.arange(6, dtype="<u2").reshape(2, 3)], dim="Data2D",
                         labels=["frame"], origin="Camera", timestamp=TS, type_name="DataFromPlugins",
                         extra={"do_plot": True, "do_save": True})
    return {
        "cmd_done": ("string", "Done"), "cmd_grabber": ("string", "GRABBER"),
        "path": ("list", ["settings_client", "binwidth_ps"]),
        "list_mixed": ("list", ["a", 1, 2.5, True, np.array([1, 2], dtype="<i4"), ["nested", -3]]),
        "dte_correlation": ("dte", data_model.DataToExport("Correlation", [corr, g20], timestamp=TS)),
        "dte_image": ("dte", data_model.DataToExport("Camera", [img], timestamp=TS)),
        "dte_empty": ("dte", data_model.DataToExport("nothing", [], timestamp=TS)),
    }


def ours(kind, value) -> bytes:
    return D.encode_arg(value)


def decode(kind, raw: bytes):
    if kind == "dte":
        return D.decode_dte(raw)
    buf = [raw]

    def read(n):
        out, buf[0] = buf[0][:n], buf[0][n:]
        return out
    value = D.read_list(codec.Cursor(read)) if kind == "list" else codec.read_text(codec.Cursor(read))
    assert buf[0] == b"", "trailing bytes"
    return value


@pytest.fixture(scope="module")
def frames44():
    py = python_or_skip(LEG_44)
    res = subprocess.run([str(py), str(SCRIPT), "emit"], capture_output=True, text=True, timeout=120,
                         env=leg_env())
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    return {d["case"]: bytes.fromhex(d["hex"]) for d in map(json.loads, res.stdout.splitlines())}


def test_our_bytes_are_pymodaq44s(frames44):
    exp = expected()
    assert set(frames44) == set(exp)
    for case, (kind, value) in exp.items():
        assert ours(kind, value).hex() == frames44[case].hex(), case


def test_we_read_pymodaq44s_frames(frames44):
    for case, (kind, value) in expected().items():
        got = decode(kind, frames44[case])
        assert data_model.values_equal(got, value), (case, got)


def test_pymodaq44_reads_our_bytes_as_we_meant():
    """4.4.11 decodes what we wrote and, serializing it again, gives back our bytes exactly."""
    py = python_or_skip(LEG_44)
    sent = {case: ours(kind, value) for case, (kind, value) in expected().items()}
    # a DataToExport of our client (DataRaw, float data, an axis, metadata) on top of the shared cases
    ax = data_model.Axis("delay", "s", np.linspace(-1e-9, 1e-9, 7), 0)
    client_dte = data_model.DataToExport("Correlation", [data_model.DataWithAxes(
        "Correlation", [np.linspace(0, 2, 7)], "Data1D", labels=["g2"], axes=[ax], origin="Correlation",
        extra={"binwidth_ps": 333, "normalize": False})], timestamp=TS)
    sent["client_dte"] = ours("dte", client_dte)
    kinds = {case: kind for case, (kind, _) in expected().items()} | {"client_dte": "dte"}
    lines = "".join(json.dumps({"case": c, "kind": kinds[c], "hex": b.hex()}) + "\n" for c, b in sent.items())
    res = subprocess.run([str(py), str(SCRIPT), "decode"], input=lines, capture_output=True, text=True, timeout=120,
                         env=leg_env())
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    back = {d["case"]: d for d in map(json.loads, res.stdout.splitlines())}
    for case, raw in sent.items():
        assert "error" not in back[case], back[case]
        assert back[case]["again"] == raw.hex(), case
    s = back["client_dte"]["summary"]["data"][0]
    assert s["class"] == "DataRaw" and s["dim"] == "Data1D" and s["axes"] == [
        {"label": "delay", "units": "s", "index": 0}]
    assert s["extra"] == {"binwidth_ps": 333, "normalize": False}


# ---------------------------------------------------------------------------------------- no venv needed
def _dte_bytes():
    return ours("dte", expected()["dte_correlation"][1])


def test_round_trip_without_pymodaq():
    for case, (kind, value) in expected().items():
        assert data_model.values_equal(decode(kind, ours(kind, value)), value), case


@pytest.mark.parametrize("cut", [1, 4, 13, 40, 200])
def test_truncated_dte_is_an_error(cut):
    raw = _dte_bytes()
    with pytest.raises(ProtocolError, match="truncated"):
        D.decode_dte(raw[:len(raw) - cut])


def test_trailing_bytes_are_an_error():
    with pytest.raises(ProtocolError, match="trailing"):
        D.decode_dte(_dte_bytes() + b"\0")


def test_counts_are_checked_before_allocation():
    head = classic.classic_string("DataToExport") + classic.classic_scalar(TS) + classic.classic_string("x")
    with pytest.raises(ProtocolError, match="announces 4294967295 items"):
        D.decode_dte(head + struct.pack(">I", 0xFFFFFFFF))


def test_message_size_is_bounded():
    with pytest.raises(ProtocolError, match="exceeds the maximum"):
        D.decode_dte(_dte_bytes(), max_size=100)


@pytest.mark.parametrize("tag, msg", [(b"parameter", "not accepted"), (b"pickle", "unknown list item tag"),
                                      (b"x" * 40, "too long")])
def test_bad_tags_are_refused(tag, msg):
    raw = struct.pack(">I", 1) + classic.classic_string(tag) + classic.classic_string("a")
    with pytest.raises(ProtocolError, match=msg):
        decode("list", raw)


def test_wrong_class_names_and_dtypes_are_refused():
    raw = _dte_bytes()
    with pytest.raises(ProtocolError, match="class name 'DataScan'"):
        D.decode_dte(raw.replace(classic.classic_string("DataToExport"), classic.classic_string("DataScan"), 1))
    with pytest.raises(ProtocolError, match="bad dtype"):
        decode("list", struct.pack(">I", 1) + classic.classic_string("scalar") + classic.classic_string("|O8")
               + struct.pack(">I", 8) + b"\0" * 8)


def test_nesting_depth_is_bounded():
    raw = (struct.pack(">I", 1) + classic.classic_string("list")) * (codec.MAX_DEPTH + 2) + struct.pack(">I", 0)
    with pytest.raises(ProtocolError, match="nesting"):
        decode("list", raw)


def test_encoder_refuses_what_pymodaq44_cannot_read():
    dwa = data_model.DataWithAxes("x", [np.zeros(2)], type_name="DataFromRoi")
    with pytest.raises(ProtocolError, match="DataFromRoi"):
        D.encode_dte(data_model.DataToExport("x", [dwa]))
    with pytest.raises(ProtocolError, match="no extra attributes"):
        D.encode_dte(data_model.DataToExport("x", [], extra={"a": 1}))


# ------------------------------------------------------------------- detection of an untyped client
def _after_identity(payload: bytes):
    """A server's connection that has read an untyped GRABBER and then ``payload``."""
    conn = C.Connection(C.SERVER)
    conn.receive_data(classic.classic_string("GRABBER") + payload)
    assert conn.next_event() == C.Command("GRABBER")
    return conn


def test_untyped_client_is_told_apart_at_its_first_done():
    done = classic.classic_string("Done")
    conn = _after_identity(done + _dte_bytes() + done + _dte_bytes())
    assert data_model.values_equal(conn.next_event().data, expected()["dte_correlation"][1])
    assert conn.dialect == PYMODAQ4
    assert conn.next_event().data.name == "Correlation"


@pytest.mark.parametrize("n", [0, 1, 12])
def test_classic_lists_stay_classic(n):
    """A classic list of 12 arrays starts with the same u32 as the string 'DataToExport'."""
    conn = _after_identity(classic.classic_string("Done") + classic.classic_list([np.arange(3.0)] * n))
    got = conn.next_event().data
    assert conn.dialect == CLASSIC and len(got) == n


def test_client_protocol_choice():
    from pymodaq_plugins_timetagger.bridge.__main__ import build_parser
    assert build_parser().parse_args(["--protocol", "pymodaq4"]).protocol == PYMODAQ4
    assert C.Connection(C.CLIENT, PYMODAQ4).dialect == PYMODAQ4


def test_pymodaq4_decoding_is_bounded_in_objects():
    """300 000 objects in one 4.4 DataToExport are refused (as pymodaq5 refuses them), not decoded."""
    labels = D.encode_list([""] * 300_000)
    d = D.encode_dwa(data_model.DataWithAxes("d", [np.ones(1)], labels=["a"], timestamp=1.0))
    good_labels = D.encode_list(["a"])
    assert good_labels in d
    dte = (classic.classic_string("DataToExport") + classic.classic_scalar(1.0) + classic.classic_string("x") + (1).to_bytes(4, "big")
           + classic.classic_string("dwa") + d.replace(good_labels, labels))
    with pytest.raises(ProtocolError, match="objects"):
        D.decode_dte(dte)
