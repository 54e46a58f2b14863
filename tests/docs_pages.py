"""Reading docs pages in tests: their fenced blocks, so an example is run as the page shows it."""

from __future__ import annotations

from pathlib import Path


def fenced_blocks(page: Path, language: str) -> list[str]:
    """The page's fenced blocks of ``language`` ("" for plain ones), read fence by fence."""
    blocks: list[tuple[str, list[str]]] = []
    current: list[str] | None = None
    for line in page.read_text(encoding="utf-8").splitlines():
        if current is None and line.startswith("```"):
            current = []
            blocks.append((line[3:].strip(), current))
        elif current is not None and line == "```":
            current = None
        elif current is not None:
            current.append(line)
    return ["\n".join(lines) + "\n" for kind, lines in blocks if kind == language]
