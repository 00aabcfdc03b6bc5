"""Entry point: builds the argparse tree, dispatches to one module per command, and is the one place where known
failures become a single line and an exit code."""

from __future__ import annotations

import argparse
import difflib
import importlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from typing import NoReturn

from bbvars import __version__
from bbvars.errors import BbvarsError, InputError
from bbvars.redaction import Redactor

# Command modules are imported only when chosen: `bbvars --help` must not pay for httpx.
COMMANDS = {
    "sync": ("bbvars.surfaces.cli.sync",
             "create/update Pipelines variables from key/values (Terraform outputs, JSON, YAML)"),
    "check": ("bbvars.surfaces.cli.check",
              "verify the credentials and the target without writing (at most 5 requests)"),
    "login": ("bbvars.surfaces.cli.login",
              "log in through the browser (OAuth authorization code) and store the tokens"),
    "logout": ("bbvars.surfaces.cli.logout", "delete the login stored by `bbvars login`"),
    "list": ("bbvars.surfaces.cli.listing",
             "print a target's variables (secured ones without value) as JSON or dotenv"),
    "token": ("bbvars.surfaces.cli.token", "print a short-lived access token minted from the OAuth consumer"),
    "fingerprint-key": ("bbvars.surfaces.cli.fingerprint_key", "print a new random key for BBVARS_FINGERPRINT_KEY "
                        "(what --fingerprint needs)"),
    "terraform": ("bbvars.surfaces.terraform", "run as a Terraform `external` data source program"),
    "pipe": ("bbvars.surfaces.pipe", "run as a Bitbucket Pipe (settings from pipe variables)"),
    "action": ("bbvars.surfaces.action", "run as a GitHub Docker action (settings from INPUT_*)"),
    "emulator": ("bbvars.surfaces.cli.emulator", "serve a local in-memory Bitbucket API to try bbvars offline"),
    "demo": ("bbvars.surfaces.cli.demo", "sync a sample Terraform output into the embedded emulator, twice"),
    "completion": ("bbvars.surfaces.cli.completion", "print a shell completion script: bash, zsh or fish"),
    "man": ("bbvars.surfaces.cli.man", "print a command's manual page (Markdown, or roff for man)"),
}
# The commands that take SIGINT/SIGTERM as "finish what is in flight, then report" (they pass args.cancel to the
# engine); the others (emulator, demo) keep Python's default: Ctrl-C stops them at once.
CANCELLABLE = frozenset({"sync", "token", "terraform", "pipe", "action"})


class Parser(argparse.ArgumentParser):
    width: int | None = None  # help's width; None: the terminal's (the manual pages set one, to be reproducible)

    def _get_formatter(self):
        if self.width is None:
            return super()._get_formatter()
        return self.formatter_class(prog=self.prog, width=self.width)

    def error(self, message: str) -> NoReturn:
        # One line, exit 2, as for every other bad input.
        raise InputError(f"{message} (see `{self.prog} --help`)")

    def _check_value(self, action, value):
        # argparse would echo any wrong choice, and a wrong command word may be a secret (in `bbvars --client-secret
        # x sync`, x is the command). What was typed is shown only when it is close to a choice: then it is a
        # mistyped name, which is no secret, and the likely one is suggested.
        if action.choices is None or value in action.choices:
            return
        choices = [str(choice) for choice in action.choices]
        close = difflib.get_close_matches(value, choices, n=1, cutoff=0.6) if isinstance(value, str) else []
        typed = f" {value!r}" if close and len(value) <= 40 and value.isprintable() else ""
        suggestion = f": did you mean {close[0]!r}?" if close else " (not shown: it may be a value)"
        if isinstance(action, argparse._SubParsersAction):
            raise argparse.ArgumentError(None, f"unknown command{typed}{suggestion} (commands: {', '.join(choices)})")
        raise argparse.ArgumentError(action, f"invalid choice{typed}{suggestion} (choose from {', '.join(choices)})")

    def parse_args(self, args=None, namespace=None):
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            command = self.command_parser(getattr(parsed, "command", None))
            command.error(f"unrecognized arguments: {unknown_arguments(extras, command)}")
        return parsed

    def command_parser(self, name: str | None) -> argparse.ArgumentParser:
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction) and name in action.choices:
                return action.choices[name]
        return self


def unknown_arguments(extras: list[str], parser: argparse.ArgumentParser) -> str:
    """The unknown options by name, each with the likely one it was meant to be; never a value (the one after
    `--client-secret` is a secret; `--client-secret=x` is shown as --client-secret)."""
    known = [flag for action in parser._actions for flag in action.option_strings]  # no public view of them
    names = [arg.split("=", 1)[0] for arg in extras if arg.startswith("-")]
    shown = []
    for name in names:
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        shown.append(f"{name} (did you mean {close[0]}?)" if close else name)
    values = len(extras) - len(names) + sum("=" in arg for arg in extras if arg.startswith("-"))
    hidden = f"{values} value{'s' if values > 1 else ''}, not shown" if values else ""
    return ", ".join(shown) + (f" ({hidden})" if names and hidden else hidden)


def build_parser() -> tuple[Parser, dict[str, Parser]]:
    parser = Parser(prog="bbvars", description="Push key/values into Bitbucket Pipelines variables.",
                    epilog="`bbvars COMMAND --help` and `bbvars man COMMAND` tell more about each command.")
    parser.add_argument("--version", action="version", version=f"bbvars {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    commands = {name: sub.add_parser(name, help=text, description=text) for name, (_, text) in COMMANDS.items()}
    return parser, commands


def command_module(name: str, parser: argparse.ArgumentParser):
    """Imports the command's module and lets it add its arguments; the examples end its help."""
    from bbvars.surfaces.cli.examples import add_examples

    module = importlib.import_module(COMMANDS[name][0])
    module.add_arguments(parser)
    add_examples(parser, name)
    return module


def cli_voice(name: str) -> str:
    """The CLI's words for a setting named by marker; imported on first use: `bbvars --help` stays light."""
    from bbvars.surfaces.cli.options import cli_voice as voice

    return voice(name)


def print_error(message: str) -> None:
    from bbvars.surfaces.console import one_line

    print(f"bbvars: error: {one_line(message)}", file=sys.stderr)


def print_notice(message: str) -> None:
    from bbvars.surfaces.console import write_line

    write_line(f"bbvars: {message}", sys.stderr)


class Cancellation:
    """SIGINT and SIGTERM (Ctrl-C, CI cancellation, `docker stop`) set `event`: the engine starts no new write, the
    writes in flight finish, and the surface prints the true report; the exit code is then 128 + the signal (130,
    143). A second SIGINT stops at once, or, while a writer thread refreshes the stored login, once its answer is
    saved (auth.shield). The handlers only set state; a thread tells the user, since printing from
    a signal handler can break a write in progress."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signum: int | None = None
        self._previous: dict[int, object] = {}
        self._done = False
        self._deferred: Callable[[int], bool] = lambda signum: False

    def install(self, notice: Callable[[str], None] | None) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # signals reach only the main thread (bbvars run in-process from another thread)
        from bbvars.auth.shield import deferred  # here, not in the handler: no import inside a signal handler

        self._deferred = deferred
        for signum in self.SIGNALS:
            self._previous[signum] = signal.signal(signum, self._handle)
        if notice is not None:
            threading.Thread(target=self._tell, args=(notice,), name="bbvars-cancel", daemon=True).start()

    def _handle(self, signum: int, frame: object) -> None:
        if self.signum is not None and signum == signal.SIGINT:
            if self._deferred(signum):
                return  # a writer thread is between a token refresh's answer and its save: stop once it is saved
            raise KeyboardInterrupt  # asked twice: stop now
        if self.signum is None:
            self.signum = signum
        self.event.set()

    def _tell(self, notice: Callable[[str], None]) -> None:
        self.event.wait()
        if not self._done and self.signum is not None:
            notice(f"{signal.Signals(self.signum).name} received: the writes in flight finish, no new one starts; "
                   "the report follows")

    def restore(self) -> None:
        self._done = True
        if self.signum is None:
            self.event.set()  # lets the notice thread end
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]

    @property
    def exit_code(self) -> int | None:
        return None if self.signum is None else 128 + self.signum


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    cancellation = Cancellation()
    try:
        code = _main(argv, cancellation)
    finally:
        cancellation.restore()
    # Cancelled: whatever the run ended in (its report printed), the exit code says it was stopped.
    return cancellation.exit_code or code


def _main(argv: list[str], cancellation: Cancellation) -> int:
    redactor = Redactor(voice=cli_voice)  # a CI surface's module names settings its own way (its `voice`)
    render_error = print_error
    debug = "--debug" in argv
    name = next((a for a in argv if a in COMMANDS), None)
    try:
        parser, command_parsers = build_parser()
        # Only the chosen command's module is imported, then it adds its own arguments.
        module = command_module(name, command_parsers[name]) if name else None
        if module is not None:
            render_error = getattr(module, "render_error", print_error)
            redactor.voice = getattr(module, "voice", cli_voice)
        if name in CANCELLABLE:
            cancellation.install(getattr(module, "render_notice", print_notice))
        args = parser.parse_args(argv)
        if module is None:
            parser.print_help(sys.stderr)
            return 2
        args.cancel = cancellation.event
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
