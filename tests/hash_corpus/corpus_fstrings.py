"""f-strings of every shape; 3.12 re-implemented their parsing (PEP 701)."""


class Formatting:
    width = 12

    def simple(self, name, value):
        return f"{name}: {value}"

    def conversions(self, x):
        return f"{x!r} {x!s} {x!a} {x!r:>10} {x!s:<8}"

    def self_documenting(self, x, y):
        return f"{x=} {y = } {x=!r} {x=:>6} {x + y=}"

    def format_specs(self, number, text):
        return f"{number:08.3f} {number:,} {number:+e} {number:#x} {text:^20} {number:{self.width}.{2}f}"

    def nesting_and_braces(self, items):
        return f"{{literal}} {', '.join(f'<{i}>' for i in items)} {'quoted'} {len(items)!r}"

    def multiline(self, a, b):
        return (
            f"first {a} "
            "plain middle "
            f"""triple {b}
            continues"""
        )

    def bytes_and_raw(self, path):
        return rf"\d+{path}\n", b"bytes" + f"{path}".encode()


def format_helper(value, spec=">5"):
    return f"{value:{spec}}|{value!r:{spec}}"
