"""User base classes, two levels deep, with super() and an abstract base."""

import abc


class Root(abc.ABC):
    root_value = "root"

    def __init__(self, x):
        self.x = x

    @abc.abstractmethod
    def area(self):
        """Subclasses compute an area."""

    def describe(self):
        return f"{type(self).__name__}({self.x})"


class Middle(Root):
    middle_value = {"m", "i", "d"}

    def __init__(self, x, y=2):
        super().__init__(x)
        self.y = y

    def area(self):
        return self.x * self.y


class Leaf(Middle):
    def __init__(self, x, y=3, z=4):
        super().__init__(x, y)
        self.z = z

    def area(self):
        return super().area() * self.z

    def describe(self):
        return "leaf:" + super(Leaf, self).describe()  # noqa: UP008 - two-argument super on purpose


class Mixin:
    def mixed(self):
        return "mixed"


class Combined(Mixin, Leaf):
    pass


class WithInitSubclass:
    registry = []

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        WithInitSubclass.registry.append(cls.__name__)
