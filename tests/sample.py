"""Objects for the tests to reach through targets such as ``sample:Point``."""
import datetime
import math


class Point:
    """A small class to build with ``init`` and to walk with attribute targets."""

    def __init__(self, x, y=0, name=None):
        self.x = x
        self.y = y
        self.name = name
        self.tags = {"colour": "red", "sizes": [1, 2, 3]}

    def norm(self):
        return math.hypot(self.x, self.y)

    def moved(self, dx=0, dy=0):
        return Point(self.x + dx, self.y + dy)

    def getJSON(self):
        return {"x": self.x, "y": self.y}


class Opaque:
    def __str__(self):
        return "<opaque>"


def echo(*args, **kwargs):
    """Return what it was given, to see what arrived after ``$`` substitution."""
    return {"args": list(args), "kwargs": kwargs}


def describe(value):
    """The Python type name of *value* and, for Points, their coordinates."""
    if isinstance(value, Point):
        return ["Point", value.x, value.y]
    return [type(value).__name__]


def fail(message):
    raise ValueError(message)


def exit_now():
    raise SystemExit(3)


def weird_values():
    return {
        "nan": float("nan"),
        "inf": [float("inf"), -float("inf")],
        "tuple": (1, 2),
        "set": {5},
        "date": datetime.datetime(2024, 1, 2, 3, 4, 5),
        "bytes": b"\x00\xffhi",
        "module": math,
        "class": Point,
        "function": echo,
        "builtin": len,
        "error": KeyError("k"),
        "opaque": Opaque(),
        "point": Point(3, 4),
        3: "int key",
        (1, 2): "tuple key",
    }


def circular():
    items = [1]
    items.append(items)
    return items


def deep(levels):
    value = []
    for _ in range(levels):
        value = [value]
    return value


def lone_surrogate():
    return "a\ud800b"


def wait_for(event, timeout):
    """Block until *event* is set: a command that holds the Companion for a while."""
    return event.wait(timeout)


def views_and_ranges(thorough=False):
    """A dict's views and ranges inside a result; with *thorough*, beside a NaN, which takes
    the encoder's other path."""
    numbers = {"one": 1, "two": [2]}
    result = {"keys": numbers.keys(), "values": numbers.values(), "items": [numbers.items()],
              "range": range(3), "stepped": range(10, 0, -4), "empty": range(0)}
    if thorough:
        result["nan"] = float("nan")
    return result


def fail_chained(message):
    """Raise from the error of :func:`fail`, in a frame of its own."""
    try:
        fail(message)
    except ValueError as error:
        raise RuntimeError("chained") from error
