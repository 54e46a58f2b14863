"""Run every example of docs/cli.md in order, as the page says, and write the real output back into it.

    python docs/tools/cli_examples.py            # rewrite docs/cli.md from a real run
    python docs/tools/cli_examples.py --check    # exit 1 if the page differs from a real run (ignoring
                                                 # hashes, key fingerprints, times and temporary paths)

The examples run in one bash session in a fresh temporary folder (removed afterwards), with REMOTEIMPORT_*
variables unset and HOME pointing into it; the page shows that folder as /tmp/example. A console block is left
as written when it cannot run unattended: it starts a server (`remoteimport ui`), shows key presses (`<TAB>`)
or installs completion scripts into your home.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

PAGE = Path(__file__).resolve().parent.parent / "cli.md"
SHOWN_WORKDIR = "/tmp/example"  # how the page names the folder the examples ran in
SHOWN_USER, SHOWN_HOST = "dev", "pc"  # who pushed, as the page shows it (docs/provenance.md)
SKIP_MARKERS = ("<TAB>", "remoteimport ui ", "completion bash >")
_SEPARATOR = "@@remoteimport-docs-command@@"
WORKDIR_MARK = "@@remoteimport-docs-workdir@@"  # replaced by the temporary folder once it exists


def _blocks(lines: list[str]) -> list[tuple[int, int]]:
    """(first, last) line indexes of the content of each ```console block."""
    found, start = [], None
    for index, line in enumerate(lines):
        if line.strip() == "```console":
            start = index + 1
        elif line.strip() == "```" and start is not None:
            found.append((start, index))
            start = None
    return found


def _commands(block: list[str]) -> list[list[str]]:
    """Each command of a block with its heredoc lines: [["$ cat > f <<'EOF'", "...", "EOF"], ["$ ls"], ...]."""
    commands: list[list[str]] = []
    index = 0
    while index < len(block):
        line = block[index]
        if line.startswith("$ "):
            command = [line]
            heredoc = re.search(r"<<'(\w+)'", line)
            if heredoc:
                while index + 1 < len(block):
                    index += 1
                    command.append(block[index])
                    if block[index] == heredoc.group(1):
                        break
            commands.append(command)
        index += 1
    return commands


def run_examples(text: str) -> str:
    """The page with every runnable block's output replaced by what the commands print now."""
    lines = text.split("\n")
    blocks = [(a, b) for a, b in _blocks(lines) if not any(m in "\n".join(lines[a:b]) for m in SKIP_MARKERS)]
    script, plan = [], []
    for first, last in blocks:
        for command in _commands(lines[first:last]):
            shell = "\n".join([command[0][2:], *command[1:]])
            shell = shell.replace('cd "$(mktemp -d)"', f"cd {WORKDIR_MARK}")
            # `$?` in an example means the previous example's status, not the separator's
            script.append(f"echo '{_SEPARATOR}'\n(exit $__status)\n{{ {shell}\n}} 2>&1\n__status=$?")
            plan.append((first, command))
    temporary = Path(tempfile.mkdtemp(prefix="remoteimport-docs-"))
    workdir = temporary / "example"
    (workdir / "home").mkdir(parents=True)
    environment = {key: value for key, value in os.environ.items() if not key.startswith("REMOTEIMPORT_")}
    environment.update({"HOME": str(workdir / "home"), "NO_COLOR": "1", "COLUMNS": "100"})
    environment.update({"LOGNAME": SHOWN_USER, "USER": SHOWN_USER})  # getpass.getuser() reads LOGNAME first
    try:
        done = subprocess.run(
            ["bash", "-c", "\n".join(["__status=0", *script]).replace(WORKDIR_MARK, str(workdir))],
            cwd=workdir,
            env=environment,
            capture_output=True,
            text=True,
            timeout=600,
        )
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
    stdout = done.stdout
    for real in {str(workdir), os.path.realpath(workdir)}:
        stdout = _shown_as(stdout, real, SHOWN_WORKDIR)
    stdout = _shown_as(stdout, f"{SHOWN_USER}@{socket.gethostname()}", f"{SHOWN_USER}@{SHOWN_HOST}")
    outputs = stdout.split(_SEPARATOR + "\n")[1:]
    assert len(outputs) == len(plan), f"{len(plan)} commands, {len(outputs)} outputs:\n{done.stderr}"
    replacement: dict[int, list[str]] = {}
    for (first, command), output in zip(plan, outputs, strict=True):
        replacement.setdefault(first, []).extend([*command, *output.rstrip("\n").split("\n")] if output else command)
    result, index = [], 0
    block_ends = dict(blocks)
    while index < len(lines):
        if index in replacement:
            result.extend(replacement[index])
            index = block_ends[index]
            continue
        result.append(lines[index])
        index += 1
    return "\n".join(result)


def _shown_as(text: str, real: str, shown: str) -> str:
    """``text`` with the folder ``real`` named ``shown``. In a table's column (a path followed by two or more
    spaces) the cell keeps its width, so the column stays aligned with its header."""
    padding = " " * max(0, len(real) - len(shown))
    text = re.sub(re.escape(real) + r"(\S*)(  +)", lambda match: shown + match[1] + match[2] + padding, text)
    return text.replace(real, shown)


_VARIABLE = [
    (re.compile(r"\b[0-9a-f]{8,64}\b"), "HASH"),
    (re.compile(r"ed25519:[0-9a-f]{32}"), "ed25519:KEY"),
    (re.compile(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(\.\d+)?(\+00:00)?( UTC)?"), "TIME"),
    (re.compile(r"/tmp/[\w./-]*"), "PATH"),
    (re.compile(r"\b\d+(\.\d+)? ?(ms|s|bytes)\b"), "N"),
    (re.compile(r"drwx------ .*"), "drwx------"),
]


def normalized(text: str) -> str:
    for pattern, placeholder in _VARIABLE:
        text = pattern.sub(placeholder, text)
    # Columns are as wide as their widest cell, and a temporary path's length differs from run to run.
    return re.sub(r"(?<=\S)  +(?=\S)", "  ", text)


def main(argv: list[str]) -> int:
    text = PAGE.read_text(encoding="utf-8")
    regenerated = run_examples(text)
    if "--check" in argv:
        if normalized(regenerated) != normalized(text):
            import difflib

            sys.stdout.writelines(
                difflib.unified_diff(
                    normalized(text).splitlines(True), normalized(regenerated).splitlines(True), "cli.md", "real run"
                )
            )
            return 1
        return 0
    PAGE.write_text(regenerated, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
