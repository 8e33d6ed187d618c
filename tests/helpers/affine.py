"""Affine motions for renderer tests and benchmarks: 2x3 matrices that turn or scale about a point."""

from __future__ import annotations

import numpy as np


def about(centre, linear) -> np.ndarray:
    """The 2x3 affine matrix that applies the 2x2 `linear` about `centre` (x, y), which stays put."""
    centre = np.asarray(centre, dtype=np.float64)
    matrix = np.zeros((2, 3))
    matrix[:, :2] = linear
    matrix[:, 2] = centre - linear @ centre
    return matrix


def rotation(degrees) -> np.ndarray:
    """2x2 rotation by `degrees` (clockwise on screen, where y points down)."""
    a = np.deg2rad(degrees)
    return np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
