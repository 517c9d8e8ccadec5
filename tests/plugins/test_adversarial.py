"""The shipped adversarial shapes: enough of them, each about the size asked for."""

from __future__ import annotations

import pytest

from retort.plugins.testing.adversarial import SHAPES, texts


def test_there_are_at_least_thirty_shapes_with_their_pattern_documented() -> None:
    assert len(SHAPES) >= 30
    for name, shape in SHAPES.items():
        assert shape.__doc__, f"{name} does not say its pattern"


@pytest.mark.parametrize("size", [1024, 64 * 1024, 1024 * 1024])
def test_every_shape_is_within_ten_percent_of_the_size(size: int) -> None:
    wrong = {
        name: len(text) for name, text in texts(size).items() if abs(len(text) - size) > size / 10
    }
    assert not wrong


def test_texts_follow_the_shapes_in_order() -> None:
    assert list(texts(100)) == list(SHAPES)
    assert texts(100)["open_brackets"] == SHAPES["open_brackets"](100)


def test_shapes_are_read_only() -> None:
    with pytest.raises(TypeError):
        SHAPES["mine"] = lambda size: "x"  # type: ignore[index]
