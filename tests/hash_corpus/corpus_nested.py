"""Nested functions, lambdas, comprehensions, generators, async methods."""

import asyncio


class Nested:
    def with_inner_function(self, values):
        def square(v):
            return v * v

        def scale(v, factor=3):
            inner = lambda w: w * factor  # noqa: E731 - a lambda bound to a name on purpose
            return inner(v)

        return [scale(square(v)) for v in values]

    def comprehensions(self, values):
        as_list = [v for v in values if v % 2]
        as_set = {str(v) for v in values}
        as_dict = {v: v * 2 for v in values if v}
        as_gen = sum(v for v in values)
        nested = [[a * b for a in range(3)] for b in range(3)]
        return as_list, sorted(as_set), as_dict, as_gen, nested

    def lambdas(self):
        key = lambda pair: (pair[1], pair[0])
        return sorted({"b": 2, "a": 1}.items(), key=key), (lambda *a, **k: (a, k))(1, x=2)

    def generator(self, n):
        for i in range(n):
            received = yield i
            if received:
                yield from range(received)
        return "done"

    async def asynchronous(self, delay=0.0):
        await asyncio.sleep(delay)
        async with asyncio.Lock():
            pass
        return [x async for x in self._agen()]

    async def _agen(self):
        for i in range(3):
            yield i

    def control_flow(self, items):
        total = 0
        for item in items:
            try:
                total += int(item)
            except (TypeError, ValueError) as error:
                total -= len(str(error))
                continue
            else:
                total *= 1
            finally:
                total += 0
        while total > 100:
            total //= 2
        else:
            total += 1
        with open(self.path) as handle, open(self.path, "rb") as other:
            del handle, other
        assert total is not None, "never"
        global _COUNTER
        _COUNTER = total
        return total


_COUNTER = 0


def outer_function(a):
    def middle(b):
        def innermost(c):
            return a + b + c

        return innermost

    return middle
