"""The command table of remoteimport/cli/: one Command per subcommand, listed once, in `--help` order."""

from __future__ import annotations

from remoteimport import cli
from remoteimport.cli.base import Command, Output
from remoteimport.cli.completion import _command_parsers

HELP_ORDER = [
    "push", "ls", "log", "show", "status", "hash", "rollback", "tag", "untag", "ui", "sign", "keygen", "verify",
    "lock", "run", "quickstart", "diff", "completion", "promote", "delete", "gc", "cache", "doctor",
]  # fmt: skip


def test_the_table_lists_every_command_once_in_help_order():
    assert [command.name for command in cli.COMMANDS] == HELP_ORDER
    assert list(_command_parsers(cli.build_parser())) == HELP_ORDER


def test_every_command_brings_its_help_description_examples_and_body():
    for command in cli.COMMANDS:
        assert isinstance(command, Command), command
        assert command.help and command.description and command.examples, command.name
        assert type(command).run is not Command.run, command.name


def test_a_parsed_command_line_runs_its_own_command(capsys):
    args = cli.build_parser().parse_args(["completion", "fish", "--json"])
    owner = args.handler.__self__
    assert owner.name == "completion" and owner in cli.COMMANDS
    out = Output(args.json)
    args.handler(args, out)
    assert out.document["shell"] == "fish" and capsys.readouterr().out == ""
