"""``remoteimport completion``: shell completion scripts for bash, zsh and fish, generated from the parser.

Commands and options complete from the script itself; class names and tags (``NAME@prod``) are asked of the
store while typing, through ``remoteimport completion --candidates WORD`` (hidden from ``--help``)."""

from __future__ import annotations

import argparse
import sys
import textwrap
from collections.abc import Callable, Iterable

from remoteimport import __version__, registry
from remoteimport.cli.base import Command, Output, UsageError
from remoteimport.errors import RemoteImportError
from remoteimport.names import LATEST, validate_name


def _command_parsers(parser: argparse.ArgumentParser) -> dict[str, tuple[argparse.ArgumentParser, str]]:
    """Each subcommand's parser and one-line help, read from ``parser`` itself."""
    for action in parser._actions:  # argparse keeps its subcommands here; it has no public accessor
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help or "" for choice in action._get_subactions()}
            return {name: (sub, helps.get(name, "")) for name, sub in action.choices.items()}
    return {}


def _parser_options(parser: argparse.ArgumentParser) -> list[tuple[str, bool, str]]:
    """(option string, takes a value, help) for every option of ``parser``."""
    return [
        (option, action.nargs != 0, (action.help or "") % {"default": action.default} if action.help else "")
        for action in parser._actions
        if action.help is not argparse.SUPPRESS
        for option in action.option_strings
    ]


def _option_choices(parser: argparse.ArgumentParser) -> dict[str, list[str]]:
    """``{"--color": ["auto", "always", "never"]}``: the values of the options that take one of a few."""
    return {
        option: [str(choice) for choice in action.choices]
        for action in parser._actions
        if action.choices and action.help is not argparse.SUPPRESS
        for option in action.option_strings
    }


# Positionals that name a stored class (read from the store while typing), by argparse ``dest``: NAME, NAME@TAG,
# NAME@HASH. `untag NAME TAG` completes the tags of the NAME before it.
_NAME_DESTS = frozenset({"name", "names", "reference", "a", "b"})
_TAG_DESTS = {("untag", "tag")}


def _positional_kinds(command: str, parser: argparse.ArgumentParser) -> tuple[list[str], str]:
    """What each positional of ``command`` completes to — ``names``, ``tags`` or ``-`` (file names) — and what
    the words after the last one complete to (its kind when it takes many, else ``-``)."""
    positionals = [
        action
        for action in parser._actions
        if not action.option_strings and not isinstance(action, argparse._SubParsersAction)
    ]
    kinds = [
        "names" if action.dest in _NAME_DESTS else "tags" if (command, action.dest) in _TAG_DESTS else "-"
        for action in positionals
    ]
    many = bool(positionals) and positionals[-1].nargs in ("*", "+", argparse.REMAINDER)
    return kinds, kinds[-1] if many else "-"


def completion_candidates(word: str, store: str | None = None) -> list[str]:
    """What a class-name argument starting with ``word`` may be: the store's class names, or, once ``@`` is
    typed, ``NAME@latest`` and ``NAME@TAG`` for each tag of NAME. Nothing when the store cannot be read (a
    completion never fails loudly)."""
    name, at, _ = word.partition("@")
    try:
        opened = registry.resolve_store(store)
        if not at:
            return opened.names()
        return [f"{name}@{version}" for version in [LATEST, *opened.tags(validate_name(name))]]
    except (RemoteImportError, OSError, ValueError):
        return []


def _positional_choices(parser: argparse.ArgumentParser) -> list[str]:
    return [
        str(choice)
        for action in parser._actions
        if not action.option_strings and action.choices and not isinstance(action, argparse._SubParsersAction)
        for choice in action.choices
    ]


def _bash_words(words: Iterable[str]) -> str:
    return " ".join(words)


def bash_completion(parser: argparse.ArgumentParser) -> str:
    """A bash completion function for ``parser``'s commands, their options and option values, and the class
    names and tags in the store (``zsh`` sources it too)."""
    commands = _command_parsers(parser)
    top_options = _parser_options(parser)
    valued = sorted(
        {opt for opt, takes, _ in top_options if takes}
        | {opt for sub, _ in commands.values() for opt, takes, _ in _parser_options(sub) if takes}
    )
    option_values = dict(_option_choices(parser))
    for sub, _ in commands.values():
        option_values.update(_option_choices(sub))
    value_cases = "\n".join(
        f'        {option}) COMPREPLY=($(compgen -W "{_bash_words(values)}" -- "$cur")); return 0 ;;'
        for option, values in sorted(option_values.items())
    )
    cases = []
    for name, (sub, _) in commands.items():
        options = _bash_words(opt for opt, _, _ in _parser_options(sub))
        choices = _bash_words(_positional_choices(sub))
        kinds, rest = _positional_kinds(name, sub)
        cases.append(
            f'        {name}) options="{options}"; choices="{choices}"; kinds=({" ".join(kinds)}); rest={rest} ;;'
        )
    top = _bash_words(opt for opt, _, _ in top_options)
    return textwrap.dedent(
        """\
        # bash completion for remoteimport, generated by `remoteimport completion bash` (remoteimport {version})
        _remoteimport_candidates() {{  # class names, or NAME@TAG once @ is typed: asked of the store
            command remoteimport completion --candidates "$1" ${{store:+--store "$store"}} 2>/dev/null
        }}
        _remoteimport_tags() {{  # the tags of the class $1
            _remoteimport_candidates "$1@" | sed -e '/@latest$/d' -e 's/^[^@]*@//'
        }}
        _remoteimport() {{
            local cur=${{COMP_WORDS[COMP_CWORD]}} prev=${{COMP_WORDS[COMP_CWORD-1]}}
            local command="" options="" choices="" rest="-" store="" first="" kind word i n=0
            local -a kinds=()
            for ((i = 1; i < COMP_CWORD; i++)); do
                word=${{COMP_WORDS[i]}}
                case "$word" in
                    --store) store=${{COMP_WORDS[i+1]}}; store=${{store/#\\~/$HOME}}; ((i++)) ;;
                    {valued}) ((i++)) ;;
                    -*) ;;
                    *) if [[ -z "$command" ]]; then command=$word; else [[ $n == 0 ]] && first=$word; ((n++)); fi ;;
                esac
            done
            case "$prev" in
        {value_cases}
                {valued}) return 0 ;;  # the option's value: file names (complete -o default)
            esac
            case "$command" in
                "") options="{top}"; choices="{commands}" ;;
        {cases}
            esac
            if [[ "$cur" == -* ]]; then
                COMPREPLY=($(compgen -W "$options" -- "$cur"))
                return 0
            elif [[ -n "$choices" ]]; then
                COMPREPLY=($(compgen -W "$choices" -- "$cur"))
                return 0
            fi
            kind=${{kinds[n]:-$rest}}
            if [[ "$kind" == names ]]; then
                COMPREPLY=($(compgen -W "$(_remoteimport_candidates "$cur")" -- "$cur"))
            elif [[ "$kind" == tags && -n "$first" ]]; then
                COMPREPLY=($(compgen -W "$(_remoteimport_tags "$first")" -- "$cur"))
            fi
        }}
        complete -o default -F _remoteimport remoteimport
        """
    ).format(
        version=__version__,
        valued="|".join(valued) or "--",
        value_cases=value_cases,
        top=top,
        commands=_bash_words(commands),
        cases="\n".join(cases),
    )


def zsh_completion(parser: argparse.ArgumentParser) -> str:
    """zsh runs the bash completion through its ``bashcompinit`` layer."""
    return (
        "# zsh completion for remoteimport, generated by `remoteimport completion zsh`\n"
        "autoload -U +X compinit && { whence compdef >/dev/null || compinit; }\n"
        "autoload -U +X bashcompinit && bashcompinit\n" + bash_completion(parser)
    )


def _fish_quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


_FISH_CANDIDATES = """\
function __remoteimport_candidates  # class names, or NAME@TAG once @ is typed: asked of the store
    set -l words (commandline -opc)
    set -l store
    if set -l at (contains -i -- --store $words); and set -q words[(math $at + 1)]
        set store --store $words[(math $at + 1)]
    end
    command remoteimport completion --candidates (commandline -ct) $store 2>/dev/null
end"""


def fish_completion(parser: argparse.ArgumentParser) -> str:
    def option_line(condition: str, option: str, takes_value: bool, help_text: str, values: list[str]) -> str:
        flag = f"-l {option[2:]}" if option.startswith("--") else f"-s {option[1:]}"
        value = f" -x -a {_fish_quote(' '.join(values))}" if values else " -r" if takes_value else ""
        return f"complete -c remoteimport -n {_fish_quote(condition)} {flag}{value} -d {_fish_quote(help_text)}"

    def option_lines(condition: str, command_parser: argparse.ArgumentParser) -> list[str]:
        values = _option_choices(command_parser)
        return [
            option_line(condition, option, takes, text, values.get(option, []))
            for option, takes, text in _parser_options(command_parser)
        ]

    lines = [
        "# fish completion for remoteimport, generated by `remoteimport completion fish`",
        _FISH_CANDIDATES,
        "complete -c remoteimport -n __fish_use_subcommand -f",
    ]
    lines += option_lines("__fish_use_subcommand", parser)
    for name, (sub, short_help) in _command_parsers(parser).items():
        lines.append(f"complete -c remoteimport -n __fish_use_subcommand -a {name} -d {_fish_quote(short_help)}")
        condition = f"__fish_seen_subcommand_from {name}"
        lines += option_lines(condition, sub)
        choices = _positional_choices(sub)
        if choices:
            lines.append(f"complete -c remoteimport -n {_fish_quote(condition)} -f -a {_fish_quote(' '.join(choices))}")
        kinds, rest = _positional_kinds(name, sub)
        if "names" in (*kinds, rest):
            lines.append(f"complete -c remoteimport -n {_fish_quote(condition)} -f -a '(__remoteimport_candidates)'")
    return "\n".join(lines) + "\n"


# The install lines (--help, docs/cli.md): each creates the folder its shell reads completions from.
BASH_INSTALL = (
    "mkdir -p ~/.local/share/bash-completion/completions && "
    "remoteimport completion bash > ~/.local/share/bash-completion/completions/remoteimport"
)
ZSH_INSTALL = "echo 'eval \"$(remoteimport completion zsh)\"' >> ~/.zshrc"
FISH_INSTALL = (
    "mkdir -p ~/.config/fish/completions && remoteimport completion fish > ~/.config/fish/completions/remoteimport.fish"
)

COMPLETION_SCRIPTS: dict[str, Callable[[argparse.ArgumentParser], str]] = {
    "bash": bash_completion,
    "zsh": zsh_completion,
    "fish": fish_completion,
}


class Completion(Command):
    """Needs the whole command line's parser: ``build_parser`` is handed in by the command table."""

    name = "completion"
    help = "print a shell completion script (bash, zsh or fish)"
    description = (
        "Print a completion script for SHELL: Tab then completes every command, its options, their values, "
        "and the class names and tags of the store (asked of the store while you type; a --store typed on the "
        "line counts). Install it once with your shell's line below (each creates the folder it writes to; "
        'bash\'s needs the bash-completion package, else put `eval "$(remoteimport completion bash)"` in '
        "~/.bashrc), then open a new shell. Run the line again after an upgrade that adds commands."
    )
    examples = f"{BASH_INSTALL}\n{ZSH_INSTALL}\n{FISH_INSTALL}"

    def __init__(self, build_parser: Callable[[], argparse.ArgumentParser]) -> None:
        self.build_parser = build_parser

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "shell", metavar="SHELL", nargs="?", choices=sorted(COMPLETION_SCRIPTS), help="bash, zsh or fish"
        )
        # What the scripts run while you type: one candidate a line, for a class-name argument starting so.
        parser.add_argument("--candidates", metavar="WORD", help=argparse.SUPPRESS)
        parser.set_defaults(completion_parser=parser)  # a missing SHELL is a usage error (exit 2), said with usage

    def run(self, args: argparse.Namespace, out: Output) -> None:
        if args.candidates is not None:
            candidates = completion_candidates(args.candidates, args.store)
            out.data(candidates=candidates)
            for candidate in candidates:
                out.line(candidate)
            return
        if args.shell is None:
            raise UsageError(
                args.completion_parser, "name the shell to print a completion script for: bash, zsh or fish"
            )
        script = COMPLETION_SCRIPTS[args.shell](self.build_parser())
        out.data(shell=args.shell, script=script)
        if not out.as_json:
            sys.stdout.write(script)
