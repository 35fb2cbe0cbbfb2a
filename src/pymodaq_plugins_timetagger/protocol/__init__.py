"""PyMoDAQ's TCP/IP protocol, generic (nothing here knows the Time Tagger), without Qt and PyMoDAQ.

Modules: :mod:`.codec` (the one bounded cursor, numbers, strings, arrays, field checks), :mod:`.pymodaq5`
(dialect 1: its type table, objects and frames), :mod:`.classic` (dialect 2), :mod:`.dialect4` (PyMoDAQ 4.1-4.4),
:mod:`.dialects` (names, detection), :mod:`.connection` (one connection, sans I/O: bytes in, events out),
:mod:`.net` (socket helpers, backoff), :mod:`.server` (the server the TCPServer plugins run), :mod:`.auth` (our
optional shared secret), :mod:`.paramxml` (parameter XML without eval) and :mod:`.mirror` (a peer's settings
tree, bounded). The data model (Axis, DataWithAxes, DataToExport) is :mod:`pymodaq_plugins_timetagger.data_model`.

The codec modules import only the standard library and numpy. What they write and read, their safety
limits and how they differ from PyMoDAQ's serializer: docs/protocol.rst, *The codec in detail*.
"""
