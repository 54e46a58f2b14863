"""match statements of every pattern kind and the walrus operator."""

from dataclasses import dataclass


@dataclass
class Point:
    x: int
    y: int


class Matcher:
    def classify(self, command):
        match command:
            case None:
                return "nothing"
            case 0 | 1 | -1:
                return "small"
            case "go" | "run" as verb:
                return f"move:{verb}"
            case [x]:
                return ("one", x)
            case [x, y, *rest] if len(rest) > 2:
                return ("many", x, y, rest)
            case {"action": str(action), **others}:
                return ("mapping", action, others)
            case Point(x=0, y=0):
                return "origin"
            case Point(x=px, y=py) if px == py:
                return ("diagonal", px)
            case (1, _) | (_, 1):
                return "has one"
            case str() | bytes():
                return "text"
            case _:
                return "other"

    def walrus(self, values):
        if (n := len(values)) > 3:
            return n
        return [y for x in values if (y := x * 2) > 1]


def matched_function(value):
    match value:
        case {"kind": "circle", "r": r}:
            return 3.14 * r * r
        case [int() as a, int() as b]:
            return a + b
        case _:
            return None
