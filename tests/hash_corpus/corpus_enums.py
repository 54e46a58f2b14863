"""Enum members, in enum classes and as attributes of other classes."""

import enum


class Color(enum.Enum):
    RED = 1
    GREEN = 2
    BLUE = "blue"

    def describe(self):
        return f"{self.name}={self.value}"


class Level(enum.IntEnum):
    LOW = 10
    HIGH = 20


class Permission(enum.Flag):
    READ = enum.auto()
    WRITE = enum.auto()
    EXECUTE = enum.auto()
    ALL = READ | WRITE | EXECUTE


class Painter:
    default_color = Color.GREEN
    palette = (Color.RED, Color.BLUE)
    levels = {"quiet": Level.LOW, "loud": Level.HIGH}
    permission = Permission.READ | Permission.WRITE

    def paint(self, color=Color.RED):
        if color is Color.BLUE:
            return Level.HIGH
        return self.default_color.describe()
