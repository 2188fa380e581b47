import io

from nsdval.run.progress import ProgressPrinter


class Terminal(io.StringIO):
    def isatty(self):
        return True


def info(done, total=4, mb=10):
    return {"sessions_done": done, "n_sessions": total, "bytes_read": mb * 1_000_000}


def test_a_log_gets_one_line_per_subject_when_it_is_read():
    now = [0.0]
    stream = io.StringIO()
    printer = ProgressPrinter(stream, clock=lambda: now[0])
    for step in (1, 2, 3, 4):
        now[0] = float(step)
        printer("subj01", info(step, mb=10 * step))
    now[0] = 5.0  # first seen at 1 s: 40 MB in 4 s
    printer("subj01", {"finished": True})
    assert stream.getvalue() == "subj01 4.0/4 sessions 40 MB 10 MB/s\n"


def test_a_terminal_is_redrawn_at_most_once_a_second_with_an_eta():
    now = [0.0]
    stream = Terminal()
    printer = ProgressPrinter(stream, clock=lambda: now[0])
    for t in (0.0, 0.5, 0.9, 1.3):
        now[0] = t
        printer("subj02", info(1.0))
    draws = stream.getvalue().split("\r\033[K")[1:]
    assert len(draws) == 2  # at 0 s and 1.3 s
    assert draws[-1].startswith("reading subj02 1.0/4 sessions 10 MB")
    assert "ETA 0:04" in draws[-1]  # 1.3 s for one session of four: 3.9 s left


def test_hashing_prints_its_total_once_when_it_took_long_enough():
    now = [0.0]
    stream = io.StringIO()
    printer = ProgressPrinter(stream, clock=lambda: now[0])
    printer(None, {"hashed_bytes": 5e8, "total_bytes": 1e9, "n_files": 3})
    now[0] = 4.0
    printer(None, {"hashed_bytes": 1e9, "total_bytes": 1e9, "n_files": 3})
    assert stream.getvalue() == "hashing 3 input files: 1000/1000 MB 250 MB/s\n"
