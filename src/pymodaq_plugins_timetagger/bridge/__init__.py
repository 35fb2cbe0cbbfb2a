"""The TCP bridge: PyMoDAQ's TCP/IP command protocol, Qt-free.

* :mod:`.codec` - both wire dialects (PyMoDAQ 5 typed frames, classic untyped messages);
* :mod:`.paramxml` - PyMoDAQ parameter XML (the client's ``Infos``), written and read without Qt;
* :mod:`.server` - the server core (listening socket, client connections, requests);
* :mod:`.client` - the standalone Time Tagger client for the remote PC
  (``pymodaq-timetagger-client`` or ``python -m pymodaq_plugins_timetagger.bridge``).
"""
