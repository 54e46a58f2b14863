"""The floor under any hash of a function's AST: ``python benchmarks/hash_floor.py``.

A source hash that ignores layout and comments (docs/hashing.md) has to parse the source into Python's AST
objects and visit every node in Python. This prints, for the benchmark's 10- and 200-method classes, the best
of N in-process runs (warm: a lower bound, not a typical figure) of:

- ``compile()`` of the module's source: the baseline of issue 13's "first hash <= 1.5x compile()" target;
- ``ast.parse()`` of the same source;
- a bare walk that visits every node and does nothing else;
- remoteimport's encoding of the tree (``hashing.source._encode_ast``), which writes the canonical text.

``ast.parse`` plus the encoding is the least a hash of this definition can cost before anything else a class
hash does (finding each function's block, its globals, the class's members, the digests).
"""

from __future__ import annotations

import argparse
import ast
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import class_source  # noqa: E402

from remoteimport.hashing import source  # noqa: E402


def best_ms(function: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times) * 1e3


def bare_walk(node: ast.AST) -> None:
    for field in node._fields:
        value = getattr(node, field, None)
        if type(value) is list:
            for item in value:
                if isinstance(item, ast.AST):
                    bare_walk(item)
        elif isinstance(value, ast.AST):
            bare_walk(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=30, help="runs per figure; the best is shown")
    arguments = parser.parse_args()
    print(f"python {sys.version.split()[0]}, best of {arguments.repeat} warm runs, ratios against compile()")
    columns = ("compile ms", 11), ("parse", 7), ("bare walk", 10), ("encode", 7), ("parse+encode", 13)
    print(f"{'class':<12} {'nodes':>6} " + " ".join(f"{title:>{width}}" for title, width in columns))
    for methods in (10, 200):
        text = class_source("Floor", methods)
        tree = ast.parse(text)
        nodes = sum(1 for _ in ast.walk(tree))
        compiled = best_ms(lambda text=text: compile(text, "floor.py", "exec"), arguments.repeat)
        parsed = best_ms(lambda text=text: ast.parse(text), arguments.repeat)
        walked = best_ms(lambda tree=tree: bare_walk(tree), arguments.repeat)
        encoded = best_ms(lambda tree=tree: source._encode_ast(tree, [], set()), arguments.repeat)
        print(
            f"{f'{methods} methods':<12} {nodes:>6} {compiled:>11.3f} {parsed / compiled:>6.2f}x "
            f"{walked / compiled:>9.2f}x {encoded / compiled:>6.2f}x {(parsed + encoded) / compiled:>12.2f}x"
        )


if __name__ == "__main__":
    main()
