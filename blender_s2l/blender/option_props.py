"""The Blender properties of the bake options, built from their one declaration.

The scene's panel settings and the bake operator offer the same options with the same words
and limits; only the panel's prefs-backed enums differ, starting with a "Default" item that
leaves the choice to the add-on preferences. Blender reads a class's annotations when it is
registered, so filling them in before registration is the same as writing them out (Blender's
own extension manager builds operators the same way).
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from typing import Any, Literal, TypeVar

import bpy

from ..core.bake.settings import Option

PREFS = "PREFS"  # the panel's "Default": the preferences decide
PREFS_ITEM = (PREFS, "Default", "As set in the preferences")
Where = Literal["panel", "operator"]
C = TypeVar("C", bound=type)


def bpy_property(option: Option[Any], where: Where) -> Any:
    """A bpy.props property for the option, as the panel or the operator shows it."""
    common: dict[str, Any] = {"name": option.label}
    if option.description:
        common["description"] = option.description
    if option.options:  # Blender's own default (animatable) otherwise
        common["options"] = set(option.options)
    if option.kind == "enum":
        items, default = list(option.choices), option.default
        if where == "panel" and option.prefs:
            items, default = [PREFS_ITEM, *items], PREFS
        return bpy.props.EnumProperty(items=items, default=default, **common)
    if option.subtype:
        common["subtype"] = option.subtype
    if option.kind == "bool":
        return bpy.props.BoolProperty(default=option.default, **common)
    if option.kind == "str":
        return bpy.props.StringProperty(default=option.default, **common)
    number = int if option.kind == "int" else float
    for bound in ("min", "max", "soft_min", "soft_max"):
        value = getattr(option, bound)
        if value is not None:
            common[bound] = number(value)
    if option.kind == "int":
        return bpy.props.IntProperty(default=option.default, **common)
    return bpy.props.FloatProperty(default=option.default, **common)


def add_properties(cls: C, options: Iterable[Option[Any]], where: Where) -> C:
    """Give a PropertyGroup or Operator class a property per option, before it is registered."""
    annotations = inspect.get_annotations(cls)  # the class's own, as a new dict
    annotations.update((option.name, bpy_property(option, where)) for option in options)
    cls.__annotations__ = annotations
    return cls


def chosen(settings: Any, option: Option[Any], prefs: Any) -> Any:
    """The panel's value of an option, the preference's where the panel leaves it to them."""
    value = getattr(settings, option.name)
    return getattr(prefs, option.prefs) if option.prefs and value == PREFS else value
