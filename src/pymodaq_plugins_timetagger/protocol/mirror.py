"""What of a peer's settings and infos the main PC may show: plain parameter dicts of allowed types, bounded.

A client's ``Infos`` tree (and each ``Info_xml`` update) is read by :mod:`.paramxml` (typed values, never
``eval``, never an import). This module turns that :class:`~.paramxml.Param` tree into PyMoDAQ parameter
dicts that hold only:

* an explicit allow-list of parameter types (:data:`ALLOWED_TYPES`), each with a value of the Python type
  that parameter type holds (an ``int`` parameter holds an ``int``...). Anything else (``table``, ``color``,
  ``itemselect``, ``action``, ``table_view``, ``date``, unknown types, or a value of the wrong type) becomes a
  read-only ``str`` parameter showing the value as text, with a warning naming it;
* the options ``name``, ``type``, ``title``, ``value``, ``readonly``, ``visible``, ``limits`` (``list``: a list of
  plain values), ``children`` - no option a parameter item could act upon;
* at most :attr:`MirrorLimits.max_params` parameters, :attr:`MirrorLimits.max_depth` levels (a larger tree is
  refused whole, with a :class:`MirrorRefused` naming the limit: building 20 000 parameter widgets would block
  the GUI thread for seconds), text of at most :attr:`MirrorLimits.max_text` characters (longer text is cut,
  with a warning), :attr:`MirrorLimits.max_limits` choices per ``list``;
* names that are unique among siblings (a repeated name is skipped, with a warning);
* all clients together: the plugin keeps the parameters of earlier clients (hidden), at most
  :attr:`MirrorLimits.max_held` settings and :attr:`MirrorLimits.max_held_infos` infos.

Qt-free: the plugin builds the pyqtgraph parameters from these dicts.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

from .paramxml import Param, is_name

__all__ = ["ALLOWED_TYPES", "MirrorLimits", "MirrorRefused", "mirror_dicts", "mirror_dict", "info_key",
           "clip_text"]

#: parameter types shown as they are (with a value of the matching Python type); every other type is text
ALLOWED_TYPES = {
    "group": type(None), "int": int, "float": float, "slide": float, "str": str, "text": str,
    "bool": bool, "led": bool, "bool_push": bool, "list": object,
}
_PLAIN = (str, int, float, bool)


class MirrorRefused(ValueError):
    """The peer's tree exceeds a limit of the mirror (the message names the limit)."""


@dataclass(frozen=True)
class MirrorLimits:
    max_params: int = 2000
    max_depth: int = 12
    max_text: int = 4000
    max_title: int = 200
    max_limits: int = 1000
    max_infos: int = 200
    #: parameters the mirror may hold in all, hidden ones of earlier clients included (a GUI cannot drop
    #: them: see the TimeTaggerTCPServer plugin); a client whose tree would go beyond is not shown
    max_held: int = 6000
    max_held_infos: int = 1000


def clip_text(text: str, limit: int, what: str, warnings: list[str]) -> str:
    """``text`` cut to ``limit`` characters (a warning naming ``what`` and the limit if it was cut)."""
    if len(text) <= limit:
        return text
    warnings.append(f"{what}: {len(text)} characters, cut to the mirror's limit of {limit}")
    return text[:limit] + "…"


def _count(p: Param, limits: MirrorLimits, depth: int = 1) -> int:
    if depth > limits.max_depth:
        raise MirrorRefused(f"the client's settings are nested deeper than {limits.max_depth} levels "
                            f"(the mirror's limit): not shown")
    n = len(p.children)
    for c in p.children:
        n += _count(c, limits, depth + 1)
        if n > limits.max_params:
            break
    return n


def _as_text(value) -> str:
    if isinstance(value, dict) and set(value) == {"all_items", "selected"}:
        return ", ".join(map(str, value["selected"]))
    return "" if value is None else str(value)


def _typed(type_: str, value):
    """``value`` as the Python type parameter type ``type_`` holds; ``None`` if it is not such a value."""
    if type_ == "group":
        return None
    if type_ in ("float", "slide"):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        return None
    if type_ == "int":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None
        if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
            return None
        return int(value)
    if type_ in ("bool", "led", "bool_push"):
        return value if isinstance(value, bool) else None
    if type_ in ("str", "text"):
        return value if isinstance(value, str) else None
    if type_ == "list":
        return value if isinstance(value, _PLAIN) else None
    return None


def mirror_dict(p: Param, limits: MirrorLimits = MirrorLimits(), warnings: list[str] | None = None,
                _path: str = "") -> dict:
    """One parameter (and its children) as a PyMoDAQ param dict of allowed types (see the module doc)."""
    warnings = [] if warnings is None else warnings
    path = f"{_path}/{p.name}" if _path else p.name
    if not is_name(p.name):
        raise MirrorRefused(f"parameter name {str(p.name)[:40]!r} is not a valid name")
    title = clip_text(str(p.title or p.name), limits.max_title, f"title of {path}", warnings)
    d: dict = {"name": p.name, "title": title, "readonly": bool(p.readonly), "visible": bool(p.visible)}
    type_ = str(p.type)
    if type_ == "group" or p.children:
        d["type"] = "group"
        d["children"] = _children(p, limits, warnings, path)
        return d
    value = _typed(type_, p.value) if type_ in ALLOWED_TYPES else None
    if value is None and not (type_ in ("str", "text", "list") and p.value is None):
        if type_ not in ALLOWED_TYPES:
            warnings.append(f"{path}: parameter type {type_[:40]!r} is shown as text")
        elif p.value is not None:
            warnings.append(f"{path}: value {str(p.value)[:60]!r} does not fit type {type_!r}: shown as text")
        d.update(type="str", readonly=True,
                 value=clip_text(_as_text(p.value), limits.max_text, f"value of {path}", warnings))
        return d
    if isinstance(value, str):
        value = clip_text(value, limits.max_text, f"value of {path}", warnings)
    d["type"] = type_
    d["value"] = "" if value is None and type_ in ("str", "text") else value
    if type_ == "list":
        choices = _choices(p.limits)
        if len(choices) > limits.max_limits:
            warnings.append(f"{path}: {len(choices)} choices, the mirror shows the first {limits.max_limits}")
            choices = choices[:limits.max_limits]
        choices = [clip_text(c, limits.max_text, f"a choice of {path}", warnings) if isinstance(c, str) else c
                   for c in choices]
        if value is not None and value not in choices:
            choices.append(value)
        d["limits"] = choices
        if value is None:
            d.pop("value")
    return d


def _choices(limits) -> list:
    if isinstance(limits, dict):
        limits = list(limits.values())
    if not isinstance(limits, (list, tuple)):
        return []
    return [c for c in limits if isinstance(c, _PLAIN)]


def _children(p: Param, limits: MirrorLimits, warnings: list[str], path: str) -> list[dict]:
    out, seen = [], set()
    for c in p.children:
        if c.name in seen:
            warnings.append(f"{path}/{c.name}: a second parameter of that name is not shown")
            continue
        seen.add(c.name)
        out.append(mirror_dict(c, limits, warnings, path))
    return out


def mirror_dicts(root: Param, limits: MirrorLimits = MirrorLimits()) -> tuple[list[dict], list[str]]:
    """The children of ``root`` (a client's settings group) as param dicts, and the warnings met.

    Raises :class:`MirrorRefused` (naming the limit) for a tree beyond :class:`MirrorLimits`.
    """
    n = _count(root, limits)
    if n > limits.max_params:
        raise MirrorRefused(f"the client's settings have more than {limits.max_params} parameters "
                            f"(the mirror's limit): not shown")
    warnings: list[str] = []
    return _children(root, limits, warnings, root.name), warnings


def info_key(name: str, taken: set[str]) -> str:
    """A parameter name for the info called ``name``: its letters, digits and ``_``, unique among ``taken``.

    ``'a b'`` and ``'a_b'`` both reduce to ``a_b``: the second one to arrive gets ``a_b_2``.
    """
    key = re.sub(r"\W", "_", str(name), flags=re.ASCII)[:60] or "info"
    if key[0].isdigit():
        key = "_" + key
    unique, n = key, 1
    while unique in taken:
        n += 1
        unique = f"{key}_{n}"
    return unique
