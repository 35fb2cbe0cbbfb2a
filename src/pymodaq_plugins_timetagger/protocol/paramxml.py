"""PyMoDAQ parameter XML, written and read without Qt.

PyMoDAQ sends a settings tree over TCP as the XML that
``pymodaq_gui.parameter.ioxml.parameter_to_xml_string(param)`` writes: one element per parameter, the
element's tag is the parameter's name, its attributes are the options, its text is the value::

    <settings type="group" title="settings" visible="1" removable="0" readonly="0" enabled="1"
              renamable="0" expanded="1" syncExpanded="0" showTop="0" strictNaming="0">
      <binwidth type="int" title="Bin width (ps):" visible="1" ... strictNaming="0">1000</binwidth>
      ...
    </settings>

(without the line breaks and indentation: ``ET.tostring`` output, ASCII, non-ASCII characters as ``&#NNN;``).

This module builds and reads that format with :mod:`xml.etree.ElementTree` on a neutral tree,
:class:`Param`, so that the standalone client and the server core need neither Qt nor pymodaq_gui.

What the format carries, and what it does not:

* attributes, in this order: ``type``, ``title`` (the name if the parameter has no title), the nine
  "required" booleans ``visible removable readonly enabled renamable expanded syncExpanded showTop
  strictNaming`` as ``'1'``/``'0'``, then only when set ``show_pb valid_for_configuration filetype``
  (booleans), ``label suffix`` (strings), ``addList addText detList movelist`` (``str()`` of the value),
  ``limits`` (``str()`` of the list; a dict is written with its values serialized like list values),
  ``states`` and, for ``itemselect``, ``all_items``;
* **not** written: ``min``, ``max``, ``tip``, ``step``, ``siPrefix``, ``default`` and any other option.
  :class:`Param` keeps ``min``/``max``/``tip`` for the caller, but they do not survive a round trip;
* the value as text (no text at all when the value is ``None``, e.g. groups), per type:

  ========================== =================================== ===========================
  type                       written                             read back
  ========================== =================================== ===========================
  ``int``                    ``str(v)`` (``True`` as ``1``)      ``int(float(text))``
  ``float``, ``slide``       ``str(v)`` (``1e-09``, ``nan``)     ``float(text)``
  any type containing        ``'1'``/``'0'``; a str value as is  ``bool`` if ``'0'``/``'1'``,
  ``bool`` or ``led``        (``multistate_led``: the state)     otherwise the text
  ``list``                   ``str('a')``, ``int(2)``,           the Python value (evaluated
                             ``float(0.5)``, ``np.nan``;         safely, never with ``eval``);
                             ``bool`` as ``int(True)``           text as is if not evaluable
  ``itemselect``             ``str(selected)`` + attribute       ``{'all_items': [...],
                             ``all_items``                       'selected': [...]}``
  ``color``                  ``[r, g, b, a]``                    list of 4 ints
  ``date_time``, ``date``    ms since the epoch (local time)     int ms / ``datetime.date``
  ``progress``               ``str(v)``                          ``int``
  ``str``, ``text``, others  ``str(v)``                          the text (``''`` for an empty
                                                                 ``str``)
  ========================== =================================== ===========================

The writer is pymodaq_gui 5.2/5.3's (what we send). pymodaq_gui 5.1.x, which PyMoDAQ 5.1.13 uses, writes
fewer attributes (``type title visible removable readonly``, then only those set among
``valid_for_configuration limits addList addText detlist movelist label suffix show_pb filetype``); the
tests write that flavor too (tests/support/paramxml.py, on :func:`xml_element`). The reader takes both (and
ignores attributes it does not know). pymodaq_gui 5.1's reader always adds
``show_pb``, so a parameter PyMoDAQ 5.1.13 rebuilt from XML is written back with ``show_pb="0"``.

Messages (checked against PyMoDAQ 5.1.13, see tests/interop): the client's ``'Infos'`` carries the whole
tree (root: the client's settings group; the server keeps the root's children); ``'Info_xml'`` (client to
server) and ``'set_info'`` (server to client) carry a path (list of str) and the XML of ONE parameter, its
own element as root, e.g. ``<level type="float" ...>0.75</level>``. PyMoDAQ sends all three XML payloads
as the ``bytes`` that ``parameter_to_xml_string`` returns (typed ``bytes`` on the wire, not ``str``).
:func:`from_xml_string` takes str or bytes and returns that parameter itself as the root;
:func:`apply_xml_update` puts its value into a local tree.
"""
from __future__ import annotations

import ast
import datetime as _dt
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator
from xml.etree import ElementTree as ET

__all__ = [
    "Param", "to_xml_string", "to_xml_bytes", "from_xml_string", "value_to_xml_text", "value_from_xml_text", "apply_xml_update", "REQUIRED_BOOL_OPTIONS",
]

#: The booleans written on every element, with the value used when a parameter does not set them
#: (these are pyqtgraph's Parameter defaults, which is what ends up in the XML).
REQUIRED_BOOL_OPTIONS = {
    "visible": True, "removable": False, "readonly": False, "enabled": True, "renamable": False,
    "expanded": True, "syncExpanded": False, "showTop": False, "strictNaming": False,
}
OPTIONAL_BOOL_OPTIONS = ("show_pb", "valid_for_configuration", "filetype")
OPTIONAL_STR_OPTIONS = ("label", "suffix")
EVAL_OPTIONS = ("addList", "addText", "detList", "movelist")
#: a parameter's name: an XML tag, as pyqtgraph/PyMoDAQ names are (a letter of any script or '_', then letters,
#: digits, '_', '.', '-'): 'temperature_1', '温度' and 'naïve' are names, '1x', 'a b' and 'a<b' are not
_NAME_RE = re.compile(r"[^\W\d][\w.\-]*\Z")


def is_name(name) -> bool:
    """True if ``name`` can be a parameter's name (and so an XML tag)."""
    return isinstance(name, str) and _NAME_RE.match(name) is not None


# ------------------------------------------------------------------------------------------------ tree
@dataclass
class Param:
    """One PyMoDAQ parameter (a group if it has children), Qt-free.

    ``opts`` holds every other option: the XML ones (``label``, ``suffix``, ``show_pb``, ``enabled``,
    ``removable``, ... and, for ``itemselect``/``multistate_led``, ``all_items``/``states``) are written to
    XML, the rest (``step``, ``siPrefix``, ...) are kept for :meth:`to_dict` only.

    ``title == ''`` means "no title": the XML then carries the name as title (as PyMoDAQ does for a
    parameter without title; an explicitly empty title, which PyMoDAQ would write as ``title=""``, is
    written as the name too).
    """
    name: str
    type: str = "group"
    value: Any = None
    title: str = ""
    children: list["Param"] = field(default_factory=list)
    readonly: bool = False
    limits: list | dict | None = None
    min: float | None = None
    max: float | None = None
    tip: str = ""
    visible: bool = True
    opts: dict = field(default_factory=dict)

    # -- navigation
    def child(self, *path) -> "Param":
        """The descendant at ``path`` (names, or one list/tuple of names); ``KeyError`` naming the path."""
        if len(path) == 1 and isinstance(path[0], (list, tuple)):
            path = tuple(path[0])
        node = self
        for i, name in enumerate(path):
            for c in node.children:
                if c.name == name:
                    node = c
                    break
            else:
                raise KeyError(f"no parameter {'/'.join(map(str, path[:i + 1]))!r} "
                               f"in {self.name!r} (path {list(path)})")
        return node

    def has_child(self, *path) -> bool:
        try:
            self.child(*path)
        except KeyError:
            return False
        return True

    def walk(self, _prefix: tuple = ()) -> Iterator[tuple[tuple[str, ...], "Param"]]:
        """``(path, param)`` for every descendant (depth first, document order); path is below ``self``."""
        for c in self.children:
            p = _prefix + (c.name,)
            yield p, c
            yield from c.walk(p)

    def path_of(self, target: "Param") -> list[str]:
        """Path of ``target`` (a descendant, by identity) below ``self``; ``KeyError`` if it is not one."""
        for path, p in self.walk():
            if p is target:
                return list(path)
        raise KeyError(f"{target.name!r} is not a descendant of {self.name!r}")

    def values(self) -> dict:
        """Nested dict ``{name: value or {children...}}`` (groups as dicts)."""
        return {c.name: (c.values() if c.children else c.value) for c in self.children}

    # -- conversion
    def to_dict(self) -> dict:
        """A PyMoDAQ param dict (for ``Parameter.create(**d)``), children included."""
        d: dict = {"name": self.name, "type": self.type}
        if self.title:
            d["title"] = self.title
        if self.value is not None:
            d["value"] = self.value
        if self.limits is not None:
            d["limits"] = self.limits
        for key in ("min", "max"):
            if getattr(self, key) is not None:
                d[key] = getattr(self, key)
        if self.readonly:
            d["readonly"] = True
        if not self.visible:
            d["visible"] = False
        if self.tip:
            d["tip"] = self.tip
        d.update(self.opts)
        if self.children or self.type == "group":
            d["children"] = [c.to_dict() for c in self.children]
        return d

    def to_xml(self) -> str:
        return to_xml_string(self)

    def xml_view(self) -> "Param":
        """A copy holding only what the XML carries (what :func:`from_xml_string` of :meth:`to_xml` gives,
        up to value types such as ``5`` vs ``5.0``): no ``min``/``max``/``tip``, only XML options, no title
        equal to the name. Compare ``from_xml_string(xml) == tree.xml_view()``."""
        xml_opts = set(OPTIONAL_BOOL_OPTIONS) | set(OPTIONAL_STR_OPTIONS) | set(EVAL_OPTIONS) | {"states"}
        opts = {k: v for k, v in self.opts.items()
                if k in xml_opts or (k in REQUIRED_BOOL_OPTIONS and bool(v) != REQUIRED_BOOL_OPTIONS[k])}
        opts = {k: (bool(v) if k in REQUIRED_BOOL_OPTIONS or k in OPTIONAL_BOOL_OPTIONS
                    else str(v) if k in OPTIONAL_STR_OPTIONS else v) for k, v in opts.items()}
        return Param(name=self.name, type=self.type, value=self.value,
                     title="" if self.title == self.name else self.title,
                     children=[c.xml_view() for c in self.children], readonly=bool(self.readonly),
                     limits=self.limits, visible=bool(self.visible), opts=opts)


# ------------------------------------------------------------------------------------------------ values
def _is_nan(v) -> bool:
    return isinstance(v, float) and math.isnan(v)


def _basic_text(v, within_dict: bool = False) -> str:
    """A ``list`` value (or a dict-limits entry) as PyMoDAQ writes it: ``str('a')``, ``int(2)``, ``float(.5)``."""
    if _is_nan(v):
        return "np.nan"
    if isinstance(v, str):
        return v if within_dict else f"str({v!r})"
    if isinstance(v, int):  # bool included: True -> 'int(True)', as PyMoDAQ writes it
        return f"int({v})"
    if isinstance(v, float):
        return f"float({v})"
    return str(v)


def _ms_since_epoch(v) -> int:
    if isinstance(v, _dt.datetime):
        return int(round(v.timestamp() * 1000))
    if isinstance(v, _dt.date):
        return int(round(_dt.datetime(v.year, v.month, v.day).timestamp() * 1000))
    if hasattr(v, "toMSecsSinceEpoch"):  # a QDateTime someone passed in anyway
        return int(v.toMSecsSinceEpoch())
    return int(v)


def value_to_xml_text(type_: str, value) -> str | None:
    """The text pymodaq_gui 5.2/5.3 writes for ``value`` of a parameter of type ``type_``; ``None``: no text.

    (For ``itemselect`` this is the ``selected`` part; ``all_items`` goes into an attribute.)
    """
    if value is None and type_ != "itemselect":
        return None
    t = str(type_)
    if "bool" in t or "led" in t:
        if t == "multistate_led" or isinstance(value, str):
            return str(value)
        return "1" if value else "0"
    if t == "itemselect":
        return "None" if value is None else str(value["selected"])
    if t == "color":
        if hasattr(value, "red"):
            value = [value.red(), value.green(), value.blue(), value.alpha()]
        return str([int(c) for c in value])
    if t == "list":
        return _basic_text(value)
    if t == "int":
        return "1" if value is True else str(value)
    if t in ("date_time", "date"):
        return str(_ms_since_epoch(value))
    if t == "table_view":
        try:
            return json.dumps(value)
        except (TypeError, ValueError):
            return ""
    return str(value)


_SAFE_CALLS = {
    "str": str, "int": int, "float": float, "bool": bool, "complex": complex, "list": list, "tuple": tuple,
    "dict": dict,
    # numpy scalar reprs (numpy >= 2 writes lists of numpy scalars as 'np.float64(0.1)')
    "np.float64": float, "np.float32": float, "np.float16": float, "np.longdouble": float,
    "np.int64": int, "np.int32": int, "np.int16": int, "np.int8": int, "np.uint64": int, "np.uint32": int,
    "np.uint16": int, "np.uint8": int, "np.intc": int, "np.bool_": bool, "np.bool": bool, "np.str_": str,
    "np.complex128": complex,
}
_SAFE_NAMES = {"np.nan": math.nan, "numpy.nan": math.nan, "nan": math.nan, "np.inf": math.inf,
               "numpy.inf": math.inf, "inf": math.inf, "True": True, "False": False, "None": None,
               "np.True_": True, "np.False_": False}


def _dotted(node) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return None if base is None else f"{base}.{node.attr}"
    return None


def _safe_eval_node(node):
    if isinstance(node, ast.Expression):
        return _safe_eval_node(node.body)
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.List):
        return [_safe_eval_node(e) for e in node.elts]
    if isinstance(node, ast.Tuple):
        return tuple(_safe_eval_node(e) for e in node.elts)
    if isinstance(node, ast.Set):
        return {_safe_eval_node(e) for e in node.elts}
    if isinstance(node, ast.Dict):
        if any(k is None for k in node.keys):
            raise ValueError("'**' in a dict")
        return {_safe_eval_node(k): _safe_eval_node(v) for k, v in zip(node.keys, node.values)}
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        operand = _safe_eval_node(node.operand)
        if not isinstance(operand, (int, float, complex)) or isinstance(operand, bool):
            raise ValueError("sign on a non-number")
        return -operand if isinstance(node.op, ast.USub) else operand
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub)):  # complex literals: 1+2j
        left, right = _safe_eval_node(node.left), _safe_eval_node(node.right)
        if not (isinstance(left, (int, float)) and isinstance(right, complex)):
            raise ValueError("only complex literals may use + or -")
        return left + right if isinstance(node.op, ast.Add) else left - right
    if isinstance(node, (ast.Name, ast.Attribute)):
        name = _dotted(node)
        if name in _SAFE_NAMES:
            return _SAFE_NAMES[name]
        raise ValueError(f"name {name!r} not allowed")
    if isinstance(node, ast.Call):
        name = _dotted(node.func)
        if name not in _SAFE_CALLS or node.keywords or len(node.args) > 1:
            raise ValueError(f"call {name!r} not allowed")
        args = [_safe_eval_node(a) for a in node.args]
        return _SAFE_CALLS[name](*args)
    raise ValueError(f"{type(node).__name__} not allowed")


def safe_eval(text: str):
    """Evaluate the Python literal subset PyMoDAQ writes (``str('a')``, ``int(2)``, ``np.nan``,
    ``[np.float64(0.1)]``, ``{'A': 'int(1)'}``, ...), without ``eval``. ``ValueError`` otherwise."""
    if not isinstance(text, str):
        raise ValueError(f"expected text, got {type(text).__name__}")
    if len(text) > 1_000_000:
        raise ValueError("text too long to evaluate")
    try:
        tree = ast.parse(text.strip(), mode="eval")
        return _safe_eval_node(tree)
    except ValueError:
        raise
    except (SyntaxError, TypeError, OverflowError, RecursionError, MemoryError) as exc:
        raise ValueError(f"cannot evaluate {text[:80]!r}: {exc}") from None


def _to_int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        return int(float(text))


def value_from_xml_text(type_: str, text: str | None, attrs: dict | None = None):
    """The value of a parameter of type ``type_`` from its element text (``None``: no text).

    ``attrs``: the element's attributes (only ``itemselect`` needs them, for ``all_items``).
    ``ValueError`` naming the type and the text if the text does not fit the type.
    """
    t = str(type_)
    if text is None:
        return "" if t == "str" else None
    try:
        if t in ("float", "slide"):
            return float(text)
        if t == "int":
            return _to_int(text)
        if t == "itemselect":
            if text == "None":
                return {"all_items": [], "selected": []}
            all_items = (attrs or {}).get("all_items", text)
            return {"all_items": list(safe_eval(all_items)), "selected": list(safe_eval(text))}
        if "bool" in t or "led" in t:
            if t == "multistate_led" or text not in ("0", "1"):
                return text
            return text == "1"
        if t in ("date_time",):
            return _to_int(text)
        if t == "date":
            return _dt.datetime.fromtimestamp(_to_int(text) / 1000).date()
        if t == "table":
            return safe_eval(text)
        if t == "color":
            return [int(c) for c in safe_eval(text)]
        if t == "list":
            try:
                return safe_eval(text)
            except ValueError:
                return text  # older files wrote the bare value
        if t == "progress":
            return _to_int(text)
        if t == "table_view":
            return json.loads(text) if text else None
        if t == "action":
            return None if text == "None" else safe_eval(text)
    except ValueError as exc:
        raise ValueError(f"bad value {text[:80]!r} for a parameter of type {t!r}: {exc}") from None
    except (TypeError, OverflowError, KeyError, OSError) as exc:
        raise ValueError(f"bad value {text[:80]!r} for a parameter of type {t!r}: {exc}") from None
    return text


# ------------------------------------------------------------------------------------------------ writing
def _bool01(v) -> str:
    return "1" if v else "0"


def xml_attributes(p: Param) -> dict[str, str]:
    """The attributes of ``p``'s element as pymodaq_gui 5.2/5.3 writes them (nine booleans on every element)."""
    attrs: dict[str, str] = {"type": str(p.type), "title": p.title if p.title else p.name}
    own = {"visible": p.visible, "readonly": p.readonly}
    for key, default in REQUIRED_BOOL_OPTIONS.items():
        attrs[key] = _bool01(own[key] if key in own else p.opts.get(key, default))
    for key in OPTIONAL_BOOL_OPTIONS:
        if key in p.opts:
            attrs[key] = _bool01(p.opts[key])
    for key in OPTIONAL_STR_OPTIONS:
        if key in p.opts:
            attrs[key] = str(p.opts[key])
    for key in EVAL_OPTIONS:
        if key in p.opts:
            attrs[key] = str(p.opts[key])
    if p.limits is not None:
        if isinstance(p.limits, dict):
            attrs["limits"] = str({k: _basic_text(v, within_dict=True) for k, v in p.limits.items()})
        else:
            attrs["limits"] = str(p.limits)
    if "states" in p.opts:
        attrs["states"] = str(p.opts["states"])
    return attrs


def xml_element(p: Param, attributes=xml_attributes, value_text=value_to_xml_text) -> ET.Element:
    """``p`` and its children as an element; ``attributes(p)`` and ``value_text(type, value)`` write them."""
    if not is_name(p.name):
        raise ValueError(f"parameter name {p.name!r} is not a valid XML tag")
    elt = ET.Element(p.name, attributes(p))
    for c in p.children:
        elt.append(xml_element(c, attributes, value_text))
    try:
        if p.type == "itemselect" and p.value is not None:
            elt.set("all_items", str(p.value["all_items"]))
        text = value_text(p.type, p.value)
    except (TypeError, ValueError, KeyError, AttributeError, OverflowError) as exc:
        raise ValueError(f"cannot write the value {p.value!r} of {p.name!r} ({p.type}): {exc}") from None
    if text is not None:
        elt.text = text
    return elt


def to_xml_bytes(root: Param) -> bytes:
    """Exactly the bytes ``pymodaq_gui.parameter.ioxml.parameter_to_xml_string`` (5.2/5.3) returns for the same
    tree (it returns ``bytes``, and PyMoDAQ 5.1.13 sends those bytes as they are, typed ``bytes``, in
    ``'Infos'``, ``'Info_xml'`` and ``'set_info'``). pymodaq_gui 5.1's flavor: tests/support/paramxml.py."""
    return ET.tostring(xml_element(root))


def to_xml_string(root: Param) -> str:
    """:func:`to_xml_bytes` as text (ASCII: non-ASCII characters are character references)."""
    return to_xml_bytes(root).decode("ascii")


# ------------------------------------------------------------------------------------------------ reading
def _attr_bool(el: ET.Element, key: str, path: str) -> bool:
    raw = el.get(key).strip()
    if raw in ("1", "True", "true"):
        return True
    if raw in ("0", "False", "false", ""):
        return False
    try:
        return bool(int(raw))
    except ValueError:
        raise ValueError(f"attribute {key}={raw!r} of {path!r} is not a boolean") from None


def _from_element(el: ET.Element, prefix: str = "") -> Param:
    path = f"{prefix}/{el.tag}" if prefix else el.tag
    if not isinstance(el.tag, str):
        raise ValueError(f"unexpected XML node under {prefix!r}")
    type_ = el.get("type") or ("group" if len(el) else "str")
    p = Param(name=el.tag, type=type_, title=el.get("title", ""))
    for key in el.attrib:
        if key in ("type", "title", "limits", "all_items"):
            continue
        if key in REQUIRED_BOOL_OPTIONS or key in OPTIONAL_BOOL_OPTIONS:
            v = _attr_bool(el, key, path)
            if key == "visible":
                p.visible = v
            elif key == "readonly":
                p.readonly = v
            elif v != REQUIRED_BOOL_OPTIONS.get(key, not v):
                p.opts[key] = v  # keep only what differs from the defaults (optional ones always)
        elif key in EVAL_OPTIONS or key == "states":
            try:
                p.opts[key] = safe_eval(el.get(key))
            except ValueError:
                p.opts[key] = el.get(key)  # as PyMoDAQ: an option it cannot read is not fatal
        else:  # label, suffix, and whatever a newer PyMoDAQ adds
            p.opts[key] = el.get(key)
    if "limits" in el.attrib:
        try:
            limits = safe_eval(el.get("limits"))
        except ValueError as exc:
            raise ValueError(f"limits of {path!r}: {exc}") from None
        if isinstance(limits, dict):
            for k, v in list(limits.items()):
                if isinstance(v, str):
                    try:
                        limits[k] = safe_eval(v)
                    except ValueError:
                        pass
        elif isinstance(limits, tuple):
            limits = list(limits)
        p.limits = limits
    if p.title == p.name:
        p.title = ""  # the writer puts the name when there is no title: read it back as "no title"
    try:
        p.value = value_from_xml_text(type_, _own_text(el), el.attrib)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    p.children = [_from_element(c, path) for c in el]
    return p


def _own_text(el: ET.Element) -> str | None:
    """The element's value text (``None`` if it has none; whitespace between child elements ignored)."""
    text = el.text
    if text is not None and len(el) and not text.strip():
        return None
    return text


def from_xml_string(text: str | bytes) -> Param:
    """The :class:`Param` tree in PyMoDAQ parameter XML (the root element is the returned Param: the
    ``settings`` group of an ``'Infos'``, or the single changed parameter of ``'Info_xml'``/``'set_info'``).

    ``ValueError`` naming the problem for anything that is not such XML (and no other exception type).
    """
    if isinstance(text, (bytes, bytearray, memoryview)):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValueError(f"parameter XML is not UTF-8/ASCII: {exc}") from None
    if not isinstance(text, str):
        raise ValueError(f"parameter XML must be str or bytes, not {type(text).__name__}")
    if not text.strip():
        raise ValueError("empty parameter XML")
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        raise ValueError("parameter XML must not contain a DTD or entity declarations")
    if text.lstrip().startswith("<?xml"):
        text = re.sub(r"^\s*<\?xml[^>]*\?>", "", text)  # ET refuses an encoding declaration in a str
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise ValueError(f"malformed parameter XML: {exc}") from None
    except (RecursionError, MemoryError) as exc:
        raise ValueError(f"parameter XML too deep or too large: {exc!r}") from None
    try:
        return _from_element(root)
    except RecursionError:
        raise ValueError("parameter XML nested too deeply") from None


def apply_xml_update(tree: Param, path: Iterable[str], xml: str | bytes) -> Param:
    """Apply an ``'Info_xml'``/``'set_info'`` update: the parameter at ``path`` in ``tree`` takes the value
    (and the options) of the single parameter in ``xml``. Returns the updated parameter.

    ``path`` as the messages carry it: PyMoDAQ's ``'Info_xml'`` starts with the client's root name
    (``['detector_settings', 'x_axis', 'Npts']``; the 5.1.13 server drops the first name unconditionally),
    5.1.13's ``'set_info'`` starts with ``'settings_client'`` (``['settings_client', 'grp', 'level']``). So the
    path is tried as it is, then without its first name. ``KeyError`` if neither is in ``tree``,
    ``ValueError`` for bad XML or if the XML's parameter is not the one the path names.
    """
    path = [str(p) for p in path]
    if path and not tree.has_child(*path):
        if (len(path) > 1 and tree.has_child(*path[1:])) or path == [tree.name]:
            path = path[1:]
    new = from_xml_string(xml)
    target = tree.child(*path) if path else tree
    if new.name != target.name:
        raise ValueError(f"XML is for {new.name!r}, the path names {target.name!r}")
    target.value = new.value
    if new.type:
        target.type = new.type
    target.readonly, target.visible = new.readonly, new.visible
    if new.limits is not None:
        target.limits = new.limits
    if new.title:
        target.title = new.title
    if new.children:
        target.children = new.children
    return target
