"""staticmethod, classmethod, property, cached_property, lru_cache, partial and a decorator of our own."""

import functools


def traced(label):
    """A decorator with an argument, defined in this module."""

    def decorate(function):
        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            return (label, function(*args, **kwargs))

        return wrapper

    return decorate


@functools.singledispatch
def render(value):
    return str(value)


@render.register
def _render_int(value: int):
    return hex(value)


def _scale(factor, value):
    return factor * value


class Decorated:
    double = functools.partial(_scale, 2)
    triple = staticmethod(functools.partial(_scale, factor=3))

    def __init__(self, base=1):
        self._base = base

    @staticmethod
    def static(a, b=2):
        return a + b

    @classmethod
    def create(cls, base=5):
        return cls(base)

    @property
    def base(self):
        return self._base

    @base.setter
    def base(self, value):
        self._base = value

    @base.deleter
    def base(self):
        del self._base

    @functools.cached_property
    def expensive(self):
        return sum(range(self._base))

    @functools.lru_cache(maxsize=64)  # noqa: B019 - an lru_cache'd method is a case to hash
    def cached(self, n):
        return n * self._base

    @staticmethod
    @functools.lru_cache(maxsize=None)  # noqa: UP033 - the explicit maxsize spelling on purpose
    def fibonacci(n):
        return n if n < 2 else Decorated.fibonacci(n - 1) + Decorated.fibonacci(n - 2)

    @traced("method")
    def traced_method(self, x):
        return render(x + 1)

    @functools.singledispatchmethod
    def dispatch(self, arg):
        return "default"

    @dispatch.register
    def _(self, arg: int):
        return "int"


@traced("function")
def traced_function(x):
    return x * 2


@functools.lru_cache(maxsize=128, typed=True)
def cached_function(x):
    return x**2
