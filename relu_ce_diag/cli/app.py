"""The ``relu-diag`` command group: the one place that turns exceptions into exit codes."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator
from typing import Any

import click

from relu_ce_diag._version import __version__
from relu_ce_diag.errors import OutputError, ReluDiagError

EXIT_CODES = """\b
Exit codes:
  0    every cell passed (kink counts as pass unless --strict)
  1    the check ran and found a problem (mismatch, non-finite loss or
       gradient, a cell that could not be checked because most entries were
       set aside, a cell that does not meet its expectation)
  2    the input could not be used (bad option, YAML, data file or user
       function); nothing was judged
  3    internal error of relu-diag (rerun with --debug for the traceback)
  130  interrupted; what finished was printed"""


def _fail(message: str, code: int) -> int:
    # one line, even for a file name or a user's exception text holding a newline
    message = message.replace("\r", "\\r").replace("\n", "\\n")
    click.echo(f"relu-diag: error: {message}", err=True)
    return code


class Stdout:
    """sys.stdout while a command runs. A reader that stops early (``| head -1``) ends the
    output quietly: nothing more is printed and the run keeps its own exit code. Any other
    failure to write (``> /dev/full``) is an OutputError (exit 2), not an internal error. Text
    the stream cannot encode is written as XML character references (ASCII-only locales)."""

    def __init__(self, stream: Any) -> None:
        self.stream, self.gone = stream, False

    def _lost(self, exc: OSError) -> None:
        self.gone = True
        try:  # the interpreter's last flush of what is still buffered must not fail either
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self.stream.fileno())
            os.close(devnull)
        except (OSError, ValueError, AttributeError):
            pass  # not a file descriptor (a test's capture): nothing is flushed at exit
        if not isinstance(exc, BrokenPipeError):
            raise OutputError("stdout", f"cannot write ({exc.strerror or exc})") from None

    def write(self, text: str) -> int:
        if self.gone:
            return len(text)
        try:
            try:
                return int(self.stream.write(text))
            except UnicodeEncodeError:
                enc = getattr(self.stream, "encoding", None) or "ascii"
                return int(self.stream.write(text.encode(enc, "xmlcharrefreplace").decode(enc)))
        except OSError as exc:
            self._lost(exc)
            return len(text)

    def flush(self) -> None:
        if not self.gone:
            try:
                self.stream.flush()
            except OSError as exc:
                self._lost(exc)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


def _reopen_closed_streams() -> None:
    """Point a standard stream the caller closed (``>&-``, ``2>&-``) at the null device, as
    its descriptor and as ``sys.stdout``/``sys.stderr`` (which Python leaves None): its text
    is discarded, as a reader that stops early discards it, and the next file opened cannot
    take its descriptor (a worker would inherit that file as its stdout)."""
    for fd, name in ((0, "stdin"), (1, "stdout"), (2, "stderr")):
        try:
            os.fstat(fd)
            continue
        except OSError:
            pass
        try:
            null = os.open(os.devnull, os.O_RDONLY if fd == 0 else os.O_WRONLY)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
        except OSError:
            continue
        if getattr(sys, name) is None:
            setattr(sys, name, open(fd, "r" if fd == 0 else "w", closefd=False))  # noqa: SIM115


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # stop like Ctrl-C: what finished is printed, workers end, 130


@contextlib.contextmanager
def terminations_interrupt() -> Iterator[None]:
    """Make SIGTERM and SIGHUP (a process manager, a closed terminal) stop relu-diag as
    Ctrl-C does, unless they are ignored (nohup); restore the handlers afterwards."""
    old: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for name in ("SIGTERM", "SIGHUP"):
            sig = getattr(signal, name, None)
            if sig is not None and signal.getsignal(sig) is not signal.SIG_IGN:
                old[sig] = signal.signal(sig, _interrupt)
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


class DiagGroup(click.Group):
    """A group whose ``main`` turns every exception into one line and an exit code."""

    def main(self, args: Any = None, prog_name: str | None = None,  # type: ignore[override]
             complete_var: str | None = None, standalone_mode: bool = True,
             **extra: Any) -> Any:
        argv = list(sys.argv[1:] if args is None else args)
        debug = "--debug" in argv or os.environ.get("RELU_DIAG_DEBUG") == "1"
        if "--debug" in argv:  # `relu-diag check ... --debug` works too: it is the group's flag
            argv = ["--debug", *(a for a in argv if a != "--debug")]
        if not argv:  # the first thing many people type: the help, not an error
            argv = ["--help"]
        _reopen_closed_streams()
        out = sys.stdout = Stdout(sys.stdout)
        try:
            with terminations_interrupt():
                rv = super().main(args=argv, prog_name=prog_name or "relu-diag",
                                  complete_var=complete_var, standalone_mode=False, **extra)
            code = rv if isinstance(rv, int) else 0
        except click.exceptions.Exit as exc:
            code = exc.exit_code
        except (click.exceptions.Abort, KeyboardInterrupt):
            click.echo("relu-diag: interrupted", err=True)
            code = 130
        except click.ClickException as exc:
            code = _fail(exc.format_message().replace("\n", " "), 2)
        except ReluDiagError as exc:
            if debug:
                raise
            code = _fail(str(exc), 2)
        except MemoryError:  # only a run forced past its memory bound gets here
            if debug:
                raise
            code = _fail("out of memory: the run needs more than this machine has; make it "
                         "smaller (without --force, runs over the bound are refused first)", 2)
        except Exception as exc:  # the one place that catches everything: exit 3, not a traceback
            if debug:
                raise
            code = _fail(f"internal error: {type(exc).__name__}: {exc} "
                         "(rerun with --debug for the traceback, and please report it)", 3)
        finally:
            sys.stdout = out.stream
        try:
            out.flush()  # a full disk is found here, not by the interpreter at exit
        except OutputError as exc:
            code = _fail(str(exc), 2) if code in (0, 1) else code
        sys.exit(code)


@click.group(cls=DiagGroup, epilog=EXIT_CODES,
             context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="relu-diag")
@click.option("--debug", is_flag=True, help="Show the full traceback of an internal error.")
def main(debug: bool) -> None:
    """Diagnose hand-written backpropagation: derivation errors, ReLU kinks, log(0)/clamps."""
