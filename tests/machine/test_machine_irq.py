"""Interrupt lines: a device's GPIO lists."""

from __future__ import annotations

import pytest

from qapigen.machine.irq import GpioList


def test_input_lines_are_made_on_first_use_and_stay_the_same_objects() -> None:
    """A line reached by number is the one ``inputs`` lists, and one an intercept reports."""
    levels: list[tuple[int, int]] = []
    gpios = GpioList(None, 24, lambda n, level: levels.append((n, level)))
    first = gpios.input(0)
    assert gpios.inputs[0] is first and len(gpios.inputs) == 24
    reported: list[tuple[int, int]] = []
    gpios.intercept_inputs(lambda n, level: reported.append((n, level)))
    first.set(1)
    gpios.input(23).set(0)
    assert levels == reported == [(0, 1), (23, 0)]
    with pytest.raises(IndexError):
        gpios.input(24)
