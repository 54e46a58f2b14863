"""Closures: classes and functions built by factories capture cell contents."""


def make_multiplier(factor):
    def multiply(x):
        return x * factor

    return multiply


def make_class(prefix, sizes):
    class Made:
        label = prefix

        def render(self, v):
            return f"{prefix}{v}", sizes

    return Made


def make_counter(start=0):
    count = start

    def counter():
        nonlocal count
        count += 1
        return count

    return counter


triple = make_multiplier(3)
MadeA = make_class("a-", frozenset({"s", "m", "l", "xl"}))
counter = make_counter(5)


class UsesClosures:
    multiplier = staticmethod(make_multiplier(7))

    def compute(self, x):
        return triple(x) + self.multiplier(x) + counter()
