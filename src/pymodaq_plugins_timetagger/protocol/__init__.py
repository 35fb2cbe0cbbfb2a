"""PyMoDAQ's TCP/IP protocol, generic (nothing here knows the Time Tagger), without Qt and PyMoDAQ.

Modules: :mod:`.codec` (the one bounded cursor, numbers, strings, arrays, field checks), :mod:`.pymodaq5`
(dialect 1: its type table, objects and frames), :mod:`.classic` (dialect 2), :mod:`.dialect4` (PyMoDAQ 4.1-4.4),
:mod:`.dialects` (names, detection), :mod:`.connection` (one connection, sans I/O: bytes in, events out),
:mod:`.net` (socket helpers, backoff), :mod:`.server` (the server the TCPServer plugins run), :mod:`.auth` (our
optional shared secret), :mod:`.paramxml` (parameter XML without eval) and :mod:`.mirror` (a peer's settings
tree, bounded). The data model (Axis, DataWithAxes, DataToExport) is :mod:`pymodaq_plugins_timetagger.data_model`.

The codec modules import only the standard library and numpy. It writes and reads:

* **dialect 1** ("pymodaq5"): the typed serialization of ``pymodaq_utils.serialize`` /
  ``serializall`` (``SerializableFactory.get_apply_serializer``) and of pymodaq_data's ``Axis``,
  ``DataWithAxes`` (and subclasses) and ``DataToExport``, plus the outer ``[u32 N][payload]`` frame
  of ``pymodaq_utils.serialize.mysocket.Socket``;
* **dialect 2** ("classic"): the untyped messages of PyMoDAQ 1.6-3.x (the documented "custom
  client" protocol): strings, scalars, arrays and lists, with no outer frame.

The wire facts are in ``docs/protocol.rst``; this is our own implementation of them, tested byte for byte
against pymodaq_utils 5.3.7 / pymodaq_data / pymodaq 5.3.8 (``tests/test_codec.py``).

Data model
----------
``Axis``, ``DataWithAxes`` and ``DataToExport`` (:mod:`pymodaq_plugins_timetagger.data_model`) are plain
dataclasses holding numpy arrays; they mirror PyMoDAQ's classes field by field. ``DataWithAxes.type_name`` (and
``DataToExport.type_name``) is the class name written on the wire (``DataRaw``, ``DataFromPlugins``,
``DataScan``...). Their ``==`` compares deeply (:func:`values_equal`: exact types, array dtype,
shape and values, NaN equal to NaN).

Errors
------
Every malformed input raises ``ProtocolError`` (a ``ValueError``, :mod:`pymodaq_plugins_timetagger.data_model`), whose message says what was
wrong. Readers built on a ``read(n)`` callable let ``EOFError`` / ``ConnectionError`` from that
callable through unchanged; a ``read`` returning fewer bytes than asked is reported as ``EOFError``.
Encoding an unsupported object or an invalid field value also raises :class:`ProtocolError`.

Safety limits
-------------
* a frame (dialect 1) or a whole classic message is at most ``max_size`` bytes
  (``codec.DEFAULT_MAX_FRAME``, 64 MiB); the length is checked before anything is read or allocated;
* dtypes: only ``b1 i1 i2 i4 i8 u1 u2 u4 u8 f2 f4 f8 c8 c16``, with ``<`` or ``>`` byte order
  (``|`` for the one-byte types); anything else (object, ``U``, ``S``, void, datetime, ``f16``,
  no byte order) is refused, naming the dtype;
* arrays: ``ndim <= 32``; ``prod(shape) * itemsize == nbytes`` is checked before the data is
  touched;
  boolean data must be 0/1 bytes;
* containers: nesting depth <= 64; a list/tuple/dict count is checked against the bytes left
  (every typed object takes at least 11 bytes) before the loop starts;
* the payload must be consumed exactly (trailing bytes are an error);
* decoding is bounded by what it creates, not only by the bytes, in every dialect (one ``codec.Cursor``):
  at most ``MAX_OBJECTS`` objects per message, and an estimate of their memory (``OBJECT_COST``,
  ``NDARRAY_COST``, plus copied string bytes) at most ``ALLOC_FACTOR`` x the bytes read + ``ALLOC_SLACK`` (a frame of
  millions of empty arrays is refused part-way instead of taking gigabytes);
* ``pymodaq5.read_frame`` can be told the type names it expects (``expect``): the type name at the head
  of the frame is checked before the rest of the payload is read.

Performance
-----------
Encoding never copies an array more than once: C-contiguous arrays are passed to the final
``b''.join`` as ``uint8`` memoryviews (a non-contiguous array is first made contiguous);
``pymodaq5.encode_frames`` builds all frames of a reply with one join. Decoding does not copy array data:
arrays are ``np.frombuffer`` views on the payload (read-only when the payload is ``bytes``, which is
what ``pymodaq5.read_frame`` passes; PyMoDAQ's own decoder also returns read-only views).

Differences from PyMoDAQ's serializer (checked against pymodaq_utils 5.3.7 / pymodaq 5.3.8)
--------------------------------------------------------------------------------------------
Bytes written are identical for every value both can write. Where behaviour differs:

* **Type names** are looked up exactly. PyMoDAQ does a substring search among registered types
  (``'Axis' in "<class '...DataWithAxes'>"``...), and knows ``DataFromPlugins`` / ``DataActuator``
  only once ``pymodaq.utils.data`` is imported. Unknown names are a :class:`ProtocolError` here.
  Accepted: ``str bytes NoneType int float bool complex ndarray list tuple dict Axis``, the
  ``DataWithAxes`` names in :data:`DWA_TYPE_NAMES` and the ``DataToExport`` names in
  :data:`DTE_TYPE_NAMES`.
* **0-d arrays** stay 0-d. PyMoDAQ's decoder applies ``np.atleast_1d`` (a 0-d array comes back with
  shape ``(1,)``); the bytes on the wire are the same (``ndim = 0``).
* **Scalars**: the body must hold exactly one item (PyMoDAQ takes the first item of any length) and
  the type name must agree with the dtype kind (``int`` with ``i``/``u``, ``float`` with ``f``,
  ``complex`` with ``c``, ``bool`` with ``b``). Unsigned values decode to Python ``int``
  (PyMoDAQ returns ``numpy.uint64``). Python ints in ``[2**63, 2**64)`` are written ``'<u8'``
  as PyMoDAQ does; ints beyond 64 bits are refused (PyMoDAQ writes an object-dtype pointer).
* **numpy scalars** (``np.float64``, ``np.int32``, ``np.bool_``...) are written as the Python
  scalar (``float``/``int``/``bool``/``complex``); PyMoDAQ raises ``NotImplementedError``.
  Subclasses of ``str``/``int``/``float``/``complex``/``bytes``/``list``/``tuple``/``dict`` (enums,
  namedtuples, OrderedDict) are written as the base type; ``bytearray``/``memoryview`` as ``bytes``.
* **dtypes**: PyMoDAQ writes any dtype, including ``'<U5'`` and object arrays (pointers); we refuse
  non-numeric dtypes on both sides.
* **Axis**: PyMoDAQ keeps a linear axis as ``offset``/``scaling`` (``data`` is ``None``) and writes
  ``get_data() = offset + scaling * linspace(0, n-1, n)`` (float64, possibly differing from the
  original array in the last bits, and float64 even for an integer axis); its decoder rebuilds
  offset/scaling again. We keep the array exactly as decoded. An :class:`Axis` with ``data=None``
  is written with a ``NoneType`` in the data slot: PyMoDAQ never writes that, but its decoder
  accepts it (``Axis(data=None)``). Axis data must be 1-D; ``index`` a non-negative int. PyMoDAQ
  cannot decode an empty (size 0) axis array (``IndexError``): do not send one.
* **DataWithAxes**: PyMoDAQ pads ``labels`` with ``CH00, CH01...`` when it builds the object, so
  what it writes always has one label per array; we write the labels as given (PyMoDAQ pads them
  again on reception). ``errors=None`` in PyMoDAQ is written ``[]``, our default. We check field
  types and the enum names (``source`` raw/calculated, ``dim`` Data0D/1D/2D/ND, ``distribution``
  uniform/spread) but not the semantic consistency PyMoDAQ's constructor checks (same shape for
  every array, dim matching the data, axes matching the shape): that is the receiver's job.
  Extra attribute names must be unique strings (they become a dict, in order).
* **DataToExport** subclasses (``DataScan``, ``DataToActuators``) are read into
  :class:`DataToExport` with ``type_name`` set (an addition to the agreed API, default
  ``'DataToExport'``). On reception PyMoDAQ's ``DataToExport`` gives its own name as ``origin`` to
  every child whose origin is empty; we keep what was sent.
* PyMoDAQ's decoder cannot rebuild a ``DataFromRoi`` (``TypeError``: ``source`` passed twice); we
  read it. It also cannot write back the ``numpy.uint64`` it returns for a ``'<u8'`` int.
* **dict**: the keys must arrive as a typed ``list`` of unique, hashable values.
* **Strings** must be valid UTF-8 (PyMoDAQ raises ``UnicodeDecodeError``).
* **Truncated input** and **trailing bytes** are errors; PyMoDAQ silently reads short slices and
  ignores leftovers.
"""
