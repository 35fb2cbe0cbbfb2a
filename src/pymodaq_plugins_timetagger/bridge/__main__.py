"""Command line of the standalone Time Tagger client (``pymodaq-timetagger-client``).

Run it on the PC the Time Tagger is plugged into; it connects to the TCPServer plugin on the main PC:

    pymodaq-timetagger-client --host 192.168.1.10 --measurement correlation --channel-1 1 --channel-2 2 \\
        --binwidth-ps 500 --n-bins 201 --integration-s 1

Ctrl-C (and Ctrl-Break or closing the console on Windows, SIGTERM elsewhere) aborts the window under way,
frees the Time Tagger and exits within about a second. Exit codes: 0 normal end (Ctrl-C or Quit from the
server), 1 the tagger could not be freed in time or a second Ctrl-C, 2 bad arguments (the message names the
option).
"""
from __future__ import annotations

import argparse
import logging
import sys

from .. import __version__
from .. import settings as declared
from ..hardware.address import AddressError, parse_address
from ..hardware.errors import SettingsError, TaggerError
from ..runs import KINDS, dim_of, make_settings
from ..protocol.codec import DEFAULT_MAX_FRAME
from .link import Link, LinkGroup, host_port, run_until_interrupted
from ..protocol.net import BACKOFF_MAX_S
from . import COORDINATOR_PORT
from ..protocol.server import DEFAULT_HOST, DEFAULT_PORT
from .service import MeasurementService, check_reply_fits
from ..protocol.dialects import CLASSIC, PYMODAQ4, PYMODAQ5

def _defaults():
    """Host, port and tagger address from the package configuration, if PyMoDAQ's utils are there."""
    try:
        from ..utils import config_value
        return (str(config_value("bridge", "host", default=DEFAULT_HOST)),
                int(config_value("bridge", "port", default=DEFAULT_PORT)),
                str(config_value("tagger", "address", default="auto")))
    except Exception:  # a lean remote host without pymodaq_utils: built-in defaults
        return DEFAULT_HOST, DEFAULT_PORT, "auto"


def build_parser() -> argparse.ArgumentParser:
    host, port, address = _defaults()
    p = argparse.ArgumentParser(
        prog="pymodaq-timetagger-client",
        description="Serve Time Tagger measurements to a PyMoDAQ TCPServer plugin on another PC.")
    p.add_argument("--host", action="append", default=None,
                   help=f"the main PC running the TCPServer plugin, HOST or HOST:PORT; repeat it to serve several main "
                        f"PCs with the one tagger, one request at a time (default {host})")
    p.add_argument("--port", type=int, default=port, help=f"its port (default {port})")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    p.add_argument("--address", default=address,
                   help="Time Tagger: auto (the first USB Time Tagger) | sim (simulated Ultra) | "
                        "sim:ultra | sim:tt20 | sim:x (simulated model) | <serial number> (that USB Time Tagger) | "
                        "net:host[:port] (a Network Time Tagger / the vendor's server) | "
                        f"rpc:host[:port] (a TimeTaggerRPC server) (default {address})")
    p.add_argument("--measurement", default="countrate",
                   help=f"what to serve: {', '.join(KINDS)}; several separated by commas (one Time Tagger, "
                        f"e.g. countrate,correlation: 'Send Data 0D' gets the count rates, 'Send Data 1D' "
                        f"the correlation)")
    p.add_argument("--protocol", choices=(PYMODAQ5, PYMODAQ4, CLASSIC), default=PYMODAQ5,
                   help="wire format: pymodaq5 (PyMoDAQ 5.0/5.1 servers and ours, default), pymodaq4 "
                        "(PyMoDAQ 4.1-4.4) or classic (PyMoDAQ 1.6-4.0, custom servers)")
    p.add_argument("--transport", choices=("tcp", "leco"), default="tcp",
                   help="tcp: dial out to a TCPServer plugin (default); leco: sign in to a pyleco "
                        "Coordinator as an actor for PyMoDAQ's LECODirector viewers (PyMoDAQ >= 5.2)")
    lg = p.add_argument_group("LECO (--transport leco)")
    lg.add_argument("--leco-host", default="localhost", help="host of the pyleco Coordinator (default localhost)")
    lg.add_argument("--leco-port", type=int, default=COORDINATOR_PORT, help=f"its port (default {COORDINATOR_PORT})")
    lg.add_argument("--name", default="timetagger",
                    help="actor name = 'Actor name' of the LECODirector plugin (default timetagger)")
    g = p.add_argument_group("measurement settings (each applies to the measurements that have it)")
    declared.add_cli_options(g)
    p.add_argument("--test-signal", default="",
                   help="switch the Time Tagger's built-in test signal on for these inputs, e.g. 1,2 "
                        "(to check the chain without light)")
    p.add_argument("--secret-file", metavar="PATH",
                   help="file holding the shared secret set in the TCPServer plugin (never give the secret "
                        "itself on the command line); default: no secret")
    p.add_argument("--backoff-max-s", type=float, default=BACKOFF_MAX_S,
                   help="longest wait between two connection attempts, s (default 5)")
    p.add_argument("--record", metavar="DIR", default=None,
                   help="record the time tags of every window into DIR on this PC (Photon-HDF5, one file per "
                        "window; the file's name goes to the server in the data)")
    p.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    return p


def measurements_from_args(args) -> list[str]:
    kinds = [k for k in args.measurement.replace(" ", "").split(",") if k]
    for k in kinds:
        if k not in KINDS:
            raise SettingsError(f"--measurement {k!r}: choose among {', '.join(KINDS)}")
    if not kinds or len(set(kinds)) != len(kinds):
        raise SettingsError(f"--measurement {args.measurement!r}: give each measurement once")
    return kinds


def settings_from_args(args, kinds: list[str]) -> dict:
    """Settings of each measurement; an option applies to every chosen measurement that has it. Every value
    is checked here, before anything is opened or connected (SettingsError names the option)."""
    return {k: make_settings(k, **v) for k, v in declared.from_cli(args, kinds).items()}


def console_never_fails() -> None:
    """Text the console's encoding cannot show is escaped (\\u03c4) instead of raising: on Windows a
    redirected stdout uses the ANSI code page, and a 'τ' in a status line must not end the client."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(errors="backslashreplace")
        except (AttributeError, ValueError, OSError):  # not a TextIOWrapper (pythonw, a test's capture)
            pass


class StatusLine:
    """The client's status on stdout: one line rewritten in place on a terminal (count included); otherwise
    (a log file, a service) a new line only when the state changes, not for every request served.

    Installed as a filter on the log's handlers (:meth:`filter`), it ends the in-place line before a log line is
    written, so the log never lands at the end of the status; the status is drawn again at its next change."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stdout
        self.in_place = bool(getattr(self.stream, "isatty", lambda: False)())
        self._last = ""
        self._width = 0

    def __call__(self, status) -> None:
        line = status.line() if self.in_place else status.state()
        if line == self._last:
            return
        self._last = line
        if self.in_place:
            self.stream.write("\r" + line.ljust(self._width))
            self._width = len(line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def filter(self, record) -> bool:
        """A logging filter: end the in-place line (if one is shown) before the log line; never drops a record."""
        if self.in_place and self._width:
            self.stream.write("\n")
            self.stream.flush()
            self._width = 0
            self._last = ""
        return True


def main(argv=None) -> int:
    console_never_fails()
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=getattr(logging, args.log_level),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        kinds = measurements_from_args(args)
        settings = settings_from_args(args, kinds)
        for s in settings.values():
            check_reply_fits(s, DEFAULT_MAX_FRAME, spell=_option)
        if args.protocol == CLASSIC:
            for dim in ("0D", "1D"):
                same = [k for k in kinds if dim_of(k) == dim]
                if len(same) > 1:
                    raise SettingsError(f"--measurement {','.join(same)}: the classic protocol carries one "
                                        f"{dim} dataset per request; use --protocol pymodaq5 (both in one "
                                        f"reply) or one of them")
        test_signal = (declared.check("channels", args.test_signal, spell=lambda n: "--test-signal")
                       if args.test_signal.strip() else ())
        parse_address(args.address)
        for option, port in (("--port", args.port), ("--leco-port", args.leco_port)):
            if not 0 < port < 65536:
                raise SettingsError(f"{option} must be between 1 and 65535, got {port}")
        servers = [host_port(h, args.port) for h in (args.host or [_defaults()[0]])]
        if not args.backoff_max_s > 0:
            raise SettingsError(f"--backoff-max-s must be > 0, got {args.backoff_max_s}")
    except AddressError as e:
        parser.error(f"--address: {e}")
    except SettingsError as e:
        parser.error(str(e))
    except ValueError as e:  # a bad --host HOST:PORT
        parser.error(f"--host {e}")
    show = StatusLine()
    for handler in logging.getLogger().handlers:
        handler.addFilter(show)

    secret = None
    if args.secret_file:
        from ..protocol.auth import read_secret_file
        try:
            secret = read_secret_file(args.secret_file)
        except ValueError as e:
            parser.error(f"--secret-file: {e}")
    if args.transport == "leco":
        if args.protocol != PYMODAQ5:
            parser.error("--protocol applies to --transport tcp only")
        try:
            from .leco_actor import LecoTaggerActor  # lazy: pyleco stays out of the TCP mode
        except ImportError as e:
            parser.error(f"--transport leco needs pyleco (pip install pyleco): {e}")
        try:
            service = MeasurementService(args.address, kinds, settings, test_signal=test_signal, on_status=show)
            runner = LecoTaggerActor(service, args.leco_host, args.leco_port, args.name,
                                     backoff_max_s=args.backoff_max_s)
        except ValueError as e:  # an empty name, or one with a '.'
            parser.error(str(e))
    else:
        try:
            if len(servers) == 1:
                runner = Link(*servers[0], address=args.address, kind=kinds, settings=settings,
                              protocol=args.protocol, backoff_max_s=args.backoff_max_s, on_status=show,
                              test_signal=test_signal, secret=secret)
                service = runner.service
            else:
                service = MeasurementService(args.address, kinds, settings, test_signal=test_signal, on_status=show)
                runner = LinkGroup(servers, service=service, protocol=args.protocol,
                                   backoff_max_s=args.backoff_max_s, on_status=show, secret=secret)
        except ValueError as e:
            parser.error(str(e))
    service.record_directory = args.record  # before the tagger is opened at start: its runs record
    open_and_check(service, parser)
    try:
        return run_until_interrupted(runner)
    finally:
        service.close_recordings()


def open_and_check(service: MeasurementService, parser: argparse.ArgumentParser) -> None:
    """Open the tagger at start and check the settings against it (its inputs, what it accepts): a setting it
    refuses exits 2 naming the option. A tagger that cannot be opened now is tried again at each request."""
    try:
        service.open(spell=_option)
    except SettingsError as e:
        service.close()
        parser.error(str(e))
    except TaggerError as e:
        logging.getLogger(__name__).warning("the Time Tagger cannot be opened now (tried again at each request): "
                                            "%s", e)


def _option(name: str) -> str:
    return declared.BY_NAME[name].option if name in declared.BY_NAME else "--" + name.replace("_", "-")


if __name__ == "__main__":
    sys.exit(main())
