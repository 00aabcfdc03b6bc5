"""What the two CI surfaces (Bitbucket pipe, GitHub action) share: settings read from environment variables named
by the SETTINGS table, every bad value reported at once, and the one-line outcome of a sync."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from bbvars.errors import InputError
from bbvars.events import Event, Events, RetryWait, retry_line
from bbvars.request.settings import SETTINGS, Setting, Settings, from_strings
from bbvars.surfaces.console import one_line, write_line
from bbvars.sync import report
from bbvars.sync.engine import RunResult


def say(line: str) -> None:
    """One whole line on stdout (the CI surfaces print everything there). Each surface prints through its own
    escaping writer (commands/_github.py, pipe.py's emit), never through this directly."""
    write_line(line)


def retry_lines(prefix: str = "", write: Callable[[str], None] | None = None) -> Events:
    """Engine events as a CI log wants them: each retry wait one plain line (no progress: a log is not a screen),
    written by the surface's own writer (`write`) when it gives one."""

    def log(event: Event) -> None:
        if isinstance(event, RetryWait):
            (write or (lambda line: say(one_line(prefix + line))))(retry_line(event))

    return log


def raw_settings(environ: Mapping[str, str], names: Callable[[Setting], Iterable[str | None]]) -> dict[str, str]:
    """{setting name: raw text} from the first non-empty variable among names(setting); settings it names none of
    are left out. An empty variable counts as unset: a pipe variable set to an undefined `$VAR` arrives empty, and
    GitHub passes every input a workflow leaves out as an empty string."""
    raw: dict[str, str] = {}
    for setting in SETTINGS:
        for name in names(setting):
            if name and environ.get(name, "") != "":
                raw[setting.name] = environ[name]
                break
    return raw


def read_settings(raw: Mapping[str, str], label: Callable[[Setting], str]) -> Settings:
    """Settings from raw text, with every malformed value named in one error rather than only the first."""
    problems = []
    for name, text in raw.items():
        try:
            from_strings({name: text}, label)
        except InputError as exc:
            problems.append(str(exc))
    if problems:
        raise InputError("; ".join(problems))
    return from_strings(raw, label)


def understood(settings: Settings, label: Callable[[Setting], str]) -> str:
    """What the run understood, for DEBUG: every setting the surface reads, except secrets and the document."""
    shown = [f"{label(s)}={getattr(settings, s.name)!r}" for s in SETTINGS
             if (s.env or s.action_input) and s.kind not in ("secret", "document")]
    return "settings: " + " ".join(shown)


def outcome(run: RunResult) -> str:
    """The closing line's text: what happened, in counts (a manifest's: its totals)."""
    verb = "Checked" if run.dry_run else "Synced"
    return f"{verb} {report.counts(run)}" if run.manifest else f"{verb}: {report.counts(run)}"


def failure(run: RunResult) -> str:
    """One line saying why a sync did not fully succeed: the counts, then each failed key with its cause (a
    manifest's: the totals, then each failed target's cause)."""
    if not run.manifest:
        return f"Sync failed ({report.counts(run)}): {'; '.join(report.failure_lines(run))}"
    failed = sum(1 for result in run.targets if not result.ok)
    return (f"Sync failed for {failed} of {len(run.targets)} target(s) ({report.counts(run)}): "
            + "; ".join(report.failure_lines(run)))


def announce(jobs, settings: Settings, prune_note: bool = False) -> str:
    """The opening line of a run: how many variables into its one target, or into a manifest's targets. With
    `prune_note`, a single target's line also says that prune deletes (a manifest's targets each have their own)."""
    count = sum(len(job.variables) for job in jobs)
    single = settings.manifest is None
    notes = ((settings.dry_run, "dry run: nothing is written"),
             (prune_note and single and settings.prune, "prune: keys not in VARIABLES are deleted"))
    extras = [note for flag, note in notes if flag]
    where = jobs[0].target.describe() if single else f"{len(jobs)} target(s) of {settings.manifest}"
    return (f"{'Checking' if settings.dry_run else 'Syncing'} {count} variable(s) into {where}"
            + (f" ({'; '.join(extras)})" if extras else "") + "...")
