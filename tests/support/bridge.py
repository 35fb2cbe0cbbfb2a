"""Our real bridge client in a thread, on a simulated tagger (virtual clock: instant and exact)."""
import threading

from pymodaq_plugins_timetagger.bridge.link import Link
from pymodaq_plugins_timetagger.runs import make_settings


def start_client(port, *, seed=1, backoff_max_s=0.2, **kw):
    """A Link serving countrate of channel 5 (1 ms windows) to 127.0.0.1:``port``; (client, thread)."""
    kw.setdefault("kind", "countrate")
    kw.setdefault("settings", make_settings("countrate", channels=(5,), integration_s=0.001))
    kw.setdefault("sim_options", {"sim_clock": "virtual", "sim_seed": seed})
    client = Link("127.0.0.1", port, address="sim", backoff_max_s=backoff_max_s, **kw)
    t = threading.Thread(target=client.serve_forever, daemon=True)
    t.start()
    return client, t


def stop_client(client, t):
    client.shutdown()
    t.join(10)
