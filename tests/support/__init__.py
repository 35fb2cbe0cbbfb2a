"""Helpers shared by the tests (one copy each): processes and sockets on loopback, Qt pumping, LECO,
DAQ_Scan, module isolation, byte readers of the wire, the TimeTaggerRPC server script."""
