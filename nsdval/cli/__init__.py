"""The ``nsdval`` command line: parse arguments, call one library function, map exit codes.

Exit codes: 0 every check passed; 1 a check failed or a report errored (reports are still
written); 2 unusable input or a usage error.

:mod:`~nsdval.cli.parser` defines the arguments, :mod:`~nsdval.cli.commands` what each
subcommand does, and :mod:`~nsdval.cli.environment` reads the environment (the only module
of nsdval that does).
"""

from __future__ import annotations

import sys
import warnings

from nsdval.cli import commands
from nsdval.cli.commands import EXIT_USAGE
from nsdval.cli.parser import build_parser
from nsdval.errors import NsdvalError, one_line

COMMANDS = {
    "run": commands.cmd_run,
    "demo": commands.cmd_demo,
    "rerun": commands.cmd_rerun,
    "index": commands.cmd_index,
    "archive": commands.cmd_archive,
    "verify": commands.cmd_verify,
    "compare": commands.cmd_compare,
    "export-benchmark": commands.cmd_export_benchmark,
}


def quiet_libraries():
    """Keep library warnings and finalizer errors off the terminal (``--debug`` shows them).

    A damaged input file can make a library warn, or fail in a finalizer ("Exception
    ignored in ..."), long after nsdval has turned the problem into its one-line error.
    """
    warnings.simplefilter("ignore")
    sys.unraisablehook = lambda unraisable: None


INTERRUPTED = {
    "run": "nsdval: interrupted: finished reports are kept and the previous index.html and "
    "results.json are unchanged; run the same command again to complete the others",
}
INTERRUPTED["demo"] = INTERRUPTED["run"]


def main(argv=None):
    """Entry point of the ``nsdval`` command; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = argv
    if not args.debug:
        quiet_libraries()
    try:
        if args.command == "synth":
            return commands.cmd_synth(args, parser)
        return COMMANDS[args.command](args)
    except (NsdvalError, FileNotFoundError, NotADirectoryError) as exc:
        if args.debug:
            raise
        print(f"nsdval: error: {one_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(INTERRUPTED.get(args.command, "nsdval: interrupted"), file=sys.stderr)
        return 130
