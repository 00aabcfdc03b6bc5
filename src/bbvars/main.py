"""Entry point: builds the argparse tree, dispatches to one module per command, and is the one place where known
failures become a single line and an exit code."""

from __future__ import annotations

import argparse
import importlib
import os
import re
import sys
from typing import NoReturn, Sequence

from bbvars import __version__
from bbvars.errors import BbvarsError, InputError
from bbvars.redaction import Redactor

# Command modules are imported only when chosen: `bbvars --help` must not pay for httpx.
COMMANDS = {
    "sync": ("bbvars.commands.sync", "create/update Pipelines variables from key/values (Terraform outputs, JSON, YAML)"),
    "check": ("bbvars.commands.check", "verify the credentials and the target without writing (at most 5 requests)"),
    "login": ("bbvars.commands.login", "log in through the browser (OAuth authorization code) and store the tokens"),
    "logout": ("bbvars.commands.logout", "delete the login stored by `bbvars login`"),
    "list": ("bbvars.commands.listing", "print a target's variables (secured ones without value) as JSON or dotenv"),
    "token": ("bbvars.commands.token", "print a short-lived access token minted from the OAuth consumer"),
    "terraform": ("bbvars.commands.terraform", "run as a Terraform `external` data source program"),
    "pipe": ("bbvars.commands.pipe", "run as a Bitbucket Pipe (settings from pipe variables)"),
    "action": ("bbvars.commands.action", "run as a GitHub Docker action (settings from INPUT_*)"),
    "emulator": ("bbvars.commands.emulator", "serve a local in-memory Bitbucket API to try bbvars offline"),
    "demo": ("bbvars.commands.demo", "sync a sample Terraform output into the embedded emulator, twice"),
    "completion": ("bbvars.commands.completion", "print a shell completion script: bash, zsh or fish"),
}


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line, exit 2, as for every other bad input. A wrong command word is not echoed: in
        # `bbvars --client-secret x sync` it is the secret.
        message = re.sub(r"invalid choice: .*? \(choose from", "invalid choice (choose from", message, flags=re.S)
        raise InputError(f"{message} (see `{self.prog} --help`)")

    def parse_args(self, args=None, namespace=None):  # type: ignore[override]
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            # argparse would echo every unknown argument, and the one after `--client-secret` is a secret: name only
            # the unknown options, never a value (`--client-secret=x` is shown as --client-secret).
            names = [arg.split("=", 1)[0] for arg in extras if arg.startswith("-")]
            values = len(extras) - len(names) + sum("=" in arg for arg in extras if arg.startswith("-"))
            hidden = f"{values} value{'s' if values > 1 else ''}, not shown" if values else ""
            shown = " ".join(names) + (f" ({hidden})" if names and hidden else hidden)
            self.error(f"unrecognized arguments: {shown}")
        return parsed


def build_parser() -> tuple[Parser, dict[str, Parser]]:
    parser = Parser(prog="bbvars", description="Push key/values into Bitbucket Pipelines variables.")
    parser.add_argument("--version", action="version", version=f"bbvars {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    commands = {name: sub.add_parser(name, help=text, description=text) for name, (_, text) in COMMANDS.items()}
    return parser, commands


def print_error(message: str) -> None:
    print(f"bbvars: error: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    redactor = Redactor()
    render_error = print_error
    debug = "--debug" in argv
    try:
        parser, command_parsers = build_parser()
        # Only the chosen command's module is imported, then it adds its own arguments.
        name = next((a for a in argv if a in COMMANDS), None)
        module = importlib.import_module(COMMANDS[name][0]) if name else None
        if module is not None:
            render_error = getattr(module, "render_error", print_error)
            module.add_arguments(command_parsers[name])
        args = parser.parse_args(argv)
        if module is None:
            parser.print_help(sys.stderr)
            return 2
        return module.run(args, redactor)
    except BbvarsError as exc:
        render_error(redactor(str(exc)))
        return exc.exit_code
    except KeyboardInterrupt:
        render_error("interrupted")
        return 130
    except BrokenPipeError:  # `bbvars ... | head`: the reader left; nothing more to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except Exception as exc:  # a bug: still one line, and the traceback only on request
        if debug:
            import traceback  # only here: start-up stays light

            print(redactor(traceback.format_exc()), file=sys.stderr)
        render_error(redactor(f"internal error ({type(exc).__name__}: {exc}); re-run with --debug and report it"))
        return 1


def entry() -> NoReturn:
    sys.exit(main())
