"""Progress of long reads on the terminal: the extraction pass and whole-file hashing.

On a terminal one status line is redrawn at most once a second (per subject: sessions
read, MB, rate, ETA; or the bytes hashed); both print one line per subject when
it is read, and one when hashing ends.
"""

from __future__ import annotations

import sys
import time

MB = 1e6


def format_eta(seconds):
    """``M:SS`` (or ``H:MM:SS``) for a number of seconds.

    Examples
    --------
    >>> format_eta(75.2), format_eta(3725)
    ('1:15', '1:02:05')
    """
    seconds = int(round(max(0.0, seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def rate_and_eta(done, total, amount, seconds):
    """Rate of ``amount`` per second and the time left, from the fraction ``done / total``."""
    rate = amount / seconds if seconds > 0 else 0.0
    eta = seconds * (total - done) / done if done > 0 else float("nan")
    return rate, eta


class ProgressPrinter:
    """The ``on_progress(subject, info)`` callback of :func:`nsdval.run.runner.run_reports`.

    Parameters
    ----------
    stream : file
        Where to write (standard error by default).
    interval : float
        Seconds between two redraws of the status line on a terminal.
    clock : callable
        Monotonic clock, for tests.
    """

    def __init__(self, stream=None, *, interval=1.0, clock=time.monotonic):
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval = interval
        self.clock = clock
        self.subjects = {}  # label -> (first seen, latest info)
        self.last_draw = None
        self.hash_started = None

    def __call__(self, subject, info):
        """Take one progress report: a subject's extraction, or hashing (``subject=None``)."""
        now = self.clock()
        if subject is None:
            self._hashing(info, now)
            return
        started, latest = self.subjects.get(subject, (now, {}))
        if info.get("finished"):
            self.subjects.pop(subject, None)
            if latest:
                line = self.subject_line(subject, latest, now - started)
                self._write(("\r\033[K" if self.tty else "") + line + "\n")
            self._draw(now, force=True)
            return
        self.subjects[subject] = (started, info)
        self._draw(now)

    def subject_line(self, subject, info, seconds):
        """``subj01 12.0/40 sessions 310 MB 52 MB/s ETA 0:10``."""
        done, total = info["sessions_done"], info["n_sessions"]
        rate, eta = rate_and_eta(done, total, info["bytes_read"], seconds)
        text = f"{subject} {done:.1f}/{total} sessions {info['bytes_read'] / MB:.0f} MB"
        text += f" {rate / MB:.0f} MB/s"
        if done < total and eta == eta:
            text += f" ETA {format_eta(eta)}"
        return text

    def _draw(self, now, force=False):
        if not self.tty or (
            not force and self.last_draw is not None and now - self.last_draw < self.interval
        ):
            return
        self.last_draw = now
        parts = [
            self.subject_line(s, info, now - started)
            for s, (started, info) in self.subjects.items()
        ]
        self._write("\r\033[K" + ("reading " + " | ".join(parts) if parts else ""))

    def _hashing(self, info, now):
        if self.hash_started is None:
            self.hash_started = now
        done, total = info["hashed_bytes"], info["total_bytes"]
        rate, eta = rate_and_eta(done, total, done, now - self.hash_started)
        line = f"hashing {info['n_files']} input files: {done / MB:.0f}/{total / MB:.0f} MB"
        line += f" {rate / MB:.0f} MB/s"
        if done >= total:
            if now - self.hash_started >= self.interval:  # a quick hash is not worth a line
                self._write(("\r\033[K" if self.tty else "") + line + "\n")
        elif self.tty and (self.last_draw is None or now - self.last_draw >= self.interval):
            self.last_draw = now
            self._write(f"\r\033[K{line} ETA {format_eta(eta)}")

    def _write(self, text):
        self.stream.write(text)
        self.stream.flush()
