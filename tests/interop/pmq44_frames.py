"""Frames of PyMoDAQ 4.4.11's own serializer, for the byte-level tests of the pymodaq4 dialect.

Run with the 4.4.11 leg's python (``tests/interop/venvs.py``, ``LEG_44``)::

    .venv-interop/pymodaq-4.4.11/bin/python tests/interop/pmq44_frames.py emit
    ... | .venv-interop/pymodaq-4.4.11/bin/python tests/interop/pmq44_frames.py decode

``emit`` writes one JSON line per case: ``{"case": name, "hex": ...}``, the bytes that 4.4.11's
``Serializer(obj).to_bytes()`` gives for the objects built by :func:`cases` (fixed timestamps, so the bytes
are reproducible). ``tests/test_dialect4.py`` builds the same values with our codec objects and compares.

``decode`` reads lines ``{"case": name, "kind": "dte" | "list" | "string", "hex": ...}`` (bytes our encoder
wrote) from stdin, decodes each with 4.4.11's ``DeSerializer``, serializes the result again with its
``Serializer`` and writes ``{"case", "again": hex, "summary": {...}}``: if ``again`` equals what we sent,
4.4.11 read every field as we meant it. A decoding error is reported as ``{"case", "error": ...}``.
"""
from __future__ import annotations

import json
import os
import sys

import numpy as np

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # importing pymodaq 4.4's data module loads Qt

from jsonlines import emit, run  # noqa: E402  (the script's folder is on sys.path)

TS = 1700000000.25


def cases() -> dict:
    from pymodaq.utils.data import Axis, DataFromPlugins, DataRaw, DataToExport

    corr = DataRaw("Correlation", data=[np.array([0.5, 1.0, 1.25, 1.0, 0.75])], labels=["g2 ch1-ch2"],
                   axes=[Axis("delay", "s", data=np.array([0.0, 1.0, 2.5, 4.0, 8.0]), index=0)])
    corr.add_extra_attribute(binwidth_ps=500, normalize=True, channels="1-2", rate_hz=1.5)
    g20 = DataRaw("g2(0)", data=[np.array([0.25])], units="")
    img = DataFromPlugins("Camera", data=[np.arange(6, dtype="<u2").reshape(2, 3)], labels=["frame"])
    dtes = {"dte_correlation": DataToExport("Correlation", data=[corr, g20]),
            "dte_image": DataToExport("Camera", data=[img]),
            "dte_empty": DataToExport("nothing", data=[])}
    for dte in dtes.values():
        dte.timestamp = TS
        for dwa in dte:
            dwa.timestamp = TS
    out = {"cmd_done": "Done", "cmd_grabber": "GRABBER", "path": ["settings_client", "binwidth_ps"],
           "list_mixed": ["a", 1, 2.5, True, np.array([1, 2], dtype="<i4"), ["nested", -3]]}
    out.update(dtes)
    return out


def summary(obj):
    from pymodaq.utils.data import DataToExport
    if isinstance(obj, DataToExport):
        return {"name": obj.name, "timestamp": obj.timestamp,
                "data": [{"class": type(d).__name__, "name": d.name, "dim": d.dim.name, "units": d.units,
                          "labels": list(d.labels), "shapes": [list(np.shape(a)) for a in d.data],
                          "dtypes": [str(np.asarray(a).dtype) for a in d.data],
                          "axes": [{"label": a.label, "units": a.units, "index": a.index} for a in d.axes],
                          "extra": {k: getattr(d, k) for k in d.extra_attributes}} for d in obj]}
    return obj


def main() -> int:
    from pymodaq.utils.tcp_ip.serializer import DeSerializer, Serializer
    mode = sys.argv[1] if len(sys.argv) > 1 else "emit"
    if mode == "emit":
        for name, obj in cases().items():
            emit(case=name, hex=Serializer(obj).to_bytes().hex())
        return 0
    if mode != "decode":
        emit(event="error", msg=f"unknown mode {mode!r}")
        return 2
    for line in sys.stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        try:
            d = DeSerializer(bytes.fromhex(req["hex"]))
            obj = {"dte": d.dte_deserialization, "list": d.list_deserialization,
                   "string": d.string_deserialization}[req["kind"]]()
            emit(case=req["case"], again=Serializer(obj).to_bytes().hex(), summary=summary(obj))
        except Exception as exc:  # noqa: BLE001 - report it to the test
            emit(case=req["case"], error=f"{type(exc).__name__}: {exc}")
    return 0


if __name__ == "__main__":
    run(main)
