"""The ``io_path`` fixture: a test module that imports it runs every test on both I/O paths of protocol/net.py."""
import pytest

from pymodaq_plugins_timetagger.protocol import net


@pytest.fixture(params=["fd", "portable"], autouse=True)
def io_path(request, monkeypatch):
    """Both I/O paths of net.py: read(2)/write(2) with our own poll (POSIX), the sockets' timeouts (elsewhere)."""
    if request.param == "portable":
        monkeypatch.setattr(net, "FD_IO", False)
    elif not net.FD_IO:
        pytest.skip("read(2) on sockets is POSIX only")
    return request.param
