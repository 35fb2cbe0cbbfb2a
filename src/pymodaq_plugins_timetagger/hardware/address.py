"""One parser for the tagger address strings used everywhere (plugins, bridge client, config).

====================  =====================================================================
``auto``              the first USB Time Tagger the vendor library finds, else the simulator
``sim``               the simulator (a Time Tagger Ultra); ``sim:<model>`` picks the model:
                      ``sim:ultra``, ``sim:tt20``, ``sim:x``
``sim:<set-up>``      the simulator with a simulated set-up on its inputs instead of the default bench:
                      ``sim:confocal`` (a raster scanner over a sample), ``sim:pulsed`` (a pulse
                      sequencer and a spin), ``sim:pairs`` (photon pairs), ``sim:hom`` (a HOM
                      set-up); with a model: ``sim:x:confocal`` (simulator.setups.SETUPS)
``''``                the first USB Time Tagger (vendor library)
``<serial>``          the USB Time Tagger with that serial number, e.g. ``1740000ABC``
``net:host[:port]``   a Network Time Tagger server (port 41101 by default); IPv6 as
                      ``net:[::1]:41101``
``rpc:host[:port]``   a tagger opened on a TimeTaggerRPC server (port 23000 by default),
                      needs ``pip install timetaggerrpc``
``file:PATH``         a recorded window (Photon-HDF5, docs/recording.rst) replayed as fast as
                      possible; ``file:paced:PATH`` at the recorded pace
====================  =====================================================================
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import AddressError
from .simulator.models import DEFAULT_MODEL, MODELS
from .simulator.setups import SETUPS

#: default port of the vendor's Network Time Tagger server (``createTimeTaggerNetwork``)
NETWORK_TIME_TAGGER_PORT = 41101
#: default port of Swabian's TimeTaggerRPC server (``TimeTaggerRPC-server``)
RPC_PORT = 23000

_SERIAL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_HOST_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,252})$")


@dataclass(frozen=True)
class Address:
    """A parsed tagger address. ``kind`` is one of ``auto``, ``sim``, ``usb``, ``net``, ``rpc``, ``file``."""

    kind: str
    text: str
    model: str = ""      # sim: model key
    serial: str = ""     # usb: serial ('' = first found)
    host: str = ""       # net, rpc
    port: int = 0        # net, rpc
    setup: str = ""      # sim: the simulated set-up on the inputs ('' = the default bench)
    path: str = ""       # file: the recording
    paced: bool = False  # file: at the recorded pace (else as fast as possible)

    @property
    def network_address(self) -> str:
        """``host:port`` as ``createTimeTaggerNetwork`` wants it (IPv6 hosts in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def parse_address(text: str) -> Address:
    """Parse an address string; raise :class:`AddressError` naming what is wrong."""
    if not isinstance(text, str):
        raise AddressError(f"tagger address must be a string, got {text!r}")
    raw = text
    text = text.strip()
    low = text.lower()
    if low == "auto":
        return Address("auto", raw)
    if low == "sim" or low.startswith("sim:"):
        parts = [p.strip() for p in low[4:].split(":")] if low != "sim" else []
        setup = parts.pop() if parts and parts[-1] in SETUPS else ""
        model = (parts.pop() if parts else "") or DEFAULT_MODEL
        if parts or model not in MODELS:
            raise AddressError(f"tagger address {raw!r}: unknown simulated model {text[4:].strip()!r} "
                               f"(known: {', '.join('sim:' + m for m in MODELS)}; set-ups: "
                               f"{', '.join('sim:' + m for m in SETUPS)}; or both: sim:<model>:<set-up>)")
        return Address("sim", raw, model=model, setup=setup)
    if low.startswith("net:"):
        host, port = _split_host_port(text[4:].strip(), raw)
        return Address("net", raw, host=host, port=port)
    if low.startswith("rpc:"):
        host, port = _split_host_port(text[4:].strip(), raw, default_port=RPC_PORT, scheme="rpc:")
        return Address("rpc", raw, host=host, port=port)
    if low.startswith("file:"):
        path = text[5:]
        paced = path.lower().startswith("paced:")
        path = path[6:] if paced else path
        if not path.strip():
            raise AddressError(f"tagger address {raw!r}: no recording after 'file:' (file:PATH or file:paced:PATH)")
        return Address("file", raw, path=path, paced=paced)
    if text == "":
        return Address("usb", raw, serial="")
    if not _SERIAL_RE.match(text):
        raise AddressError(f"tagger address {raw!r} is neither 'auto', 'sim[:model]', "
                           f"'net:host[:port]', 'rpc:host[:port]', 'file:PATH' nor a serial number "
                           f"(letters, digits, '-', '_')")
    return Address("usb", raw, serial=text)


def _split_host_port(spec: str, raw: str, default_port: int = NETWORK_TIME_TAGGER_PORT,
                     scheme: str = "net:") -> tuple[str, int]:
    if not spec:
        raise AddressError(f"tagger address {raw!r}: no host after {scheme!r}")
    port_text = ""
    if spec.startswith("["):
        end = spec.find("]")
        if end < 0:
            raise AddressError(f"tagger address {raw!r}: missing ']' after the IPv6 host")
        host, rest = spec[1:end], spec[end + 1:]
        if rest:
            if not rest.startswith(":"):
                raise AddressError(f"tagger address {raw!r}: expected ':port' after ']'")
            port_text = rest[1:]
    elif spec.count(":") == 1:
        host, port_text = spec.split(":")
    elif ":" in spec:
        host = spec  # a bare IPv6 address, no port
    else:
        host = spec
    if ":" not in host and not _HOST_RE.match(host):
        raise AddressError(f"tagger address {raw!r}: {host!r} is not a valid host name")
    port = default_port
    if port_text:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise AddressError(f"tagger address {raw!r}: port {port_text!r} is not a number in 1..65535")
        port = int(port_text)
    return host, port
