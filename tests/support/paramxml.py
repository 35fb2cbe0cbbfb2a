"""PyMoDAQ parameter dicts as protocol.paramxml trees, and pymodaq_gui 5.1.x's XML writer (what PyMoDAQ 5.1.13
writes), both only for the tests: the package builds its trees from settings.py and writes the 5.2/5.3 flavor."""
from __future__ import annotations

from xml.etree import ElementTree as ET

from pymodaq_plugins_timetagger.protocol.paramxml import Param, value_to_xml_text, xml_element

#: Dict keys of a PyMoDAQ param dict that are fields of :class:`Param`, not ``opts``.
_FIELD_KEYS = {"name", "type", "value", "title", "children", "readonly", "limits", "min", "max", "tip",
               "visible"}
#: the optional attributes pymodaq_gui 5.1's ``dict_from_param`` writes when a parameter sets them
_OPTIONAL_51 = (("addList", str), ("addText", str), ("detlist", str), ("movelist", str), ("label", str),
                ("suffix", str), ("show_pb", "bool"), ("filetype", "bool"))


def param_from_dict(d: dict) -> Param:
    """One :class:`Param` (with its children) from a PyMoDAQ param dict."""
    if not isinstance(d, dict):
        raise ValueError(f"a parameter must be a dict, not {type(d).__name__}")
    if "name" not in d:
        raise ValueError(f"parameter dict without 'name': {d!r}")
    limits = d.get("limits", d.get("values"))  # 'values' is pyqtgraph's old name for limits
    opts = {k: v for k, v in d.items() if k not in _FIELD_KEYS and k != "values"}
    p = Param(name=str(d["name"]), type=str(d.get("type", "group")), value=d.get("value"),
              title=d.get("title") or "", readonly=bool(d.get("readonly", False)),
              limits=list(limits) if isinstance(limits, tuple) else limits,
              min=d.get("min"), max=d.get("max"), tip=d.get("tip", "") or "",
              visible=bool(d.get("visible", True)), opts=opts)
    p.children = [param_from_dict(c) for c in d.get("children") or []]
    return p


def param_from_dicts(name: str, children: list[dict], *, type: str = "group", title: str = "") -> Param:
    """The root group ``name`` holding the PyMoDAQ param dicts ``children``.

    Mirrors ``Parameter.create(name=name, type='group', children=children)``.
    """
    return Param(name=name, type=type, title=title, children=[param_from_dict(c) for c in children])


def _bool01(v) -> str:
    return "1" if v else "0"


def attributes_51(p: Param) -> dict[str, str]:
    """Attributes as pymodaq_gui 5.1.x's ``dict_from_param`` writes them."""
    attrs = {"type": str(p.type), "title": p.title if p.title else p.name, "visible": _bool01(p.visible),
             "removable": _bool01(p.opts.get("removable", False)), "readonly": _bool01(p.readonly)}
    if "valid_for_configuration" in p.opts:
        attrs["valid_for_configuration"] = _bool01(p.opts["valid_for_configuration"])
    if p.limits is not None:
        attrs["limits"] = str(p.limits)
    for key, kind in _OPTIONAL_51:
        if key in p.opts:
            attrs[key] = _bool01(p.opts[key]) if kind == "bool" else str(p.opts[key])
    return attrs


def value_text_51(type_: str, value) -> str | None:
    """pymodaq_gui 5.1.x's text: booleans always '1'/'0', a NaN list value as ``float(nan)``."""
    t = str(type_)
    if value is not None and ("bool" in t or "led" in t):
        return _bool01(value)
    if t == "list" and isinstance(value, float) and value != value:
        return f"float({value})"
    return value_to_xml_text(type_, value)


def to_xml_bytes_51(root: Param) -> bytes:
    """What pymodaq_gui 5.1.x's ``parameter_to_xml_string`` returns for the same tree."""
    return ET.tostring(xml_element(root, attributes_51, value_text_51))
