"""Fixtures the core tests share."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from blender_s2l.core.animate import Animator
from blender_s2l.core.head import head_mesh as hm


@pytest.fixture(scope="module")
def anim() -> Animator:
    """The bundled models on the CPU, loaded once a test module."""
    return Animator.load("cpu")


@pytest.fixture
def cold_meshes() -> Iterator[None]:
    """No mesh kept in memory from an earlier test, before or after: a test of what a bake
    finds on a mesh must find it, not read what another test left (head_mesh.py)."""
    hm.forget_meshes()
    yield
    hm.forget_meshes()
