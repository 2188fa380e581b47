"""A pre-imported "zygote" process that forks fresh Jupyter kernels.

Starting ``python -m ipykernel_launcher`` and importing the template notebooks' modules
(numpy, scipy, pandas, xarray, matplotlib, h5py, nibabel, nsdval) costs about a second of
CPU per notebook. The zygote pays that once: it imports the modules (listed in
:mod:`nsdval.run.kernel_imports`), then listens on a Unix socket and, for each request,
forks a child that becomes a new, real ipykernel (:class:`ipykernel.kernelapp.IPKernelApp`
on the request's connection file). Each notebook still gets its own kernel process;
nothing executed in one kernel reaches another.

Fork safety: the zygote imports modules but never creates a ZMQ context, a Python thread or
an event loop; every one of those is created by the kernel in the child, after the fork.

Protocol (``SOCK_SEQPACKET``: one message per packet, JSON):

* request: ``{"argv": [...], "cwd": str, "env": {...}}`` with the client's stdout and
  stderr file descriptors attached (``SCM_RIGHTS``); ``argv`` are the arguments of
  ``ipykernel_launcher`` (``-f CONNECTION_FILE ...``);
* reply: ``{"pid": int}`` (or ``{"error": str}``), then ``{"exit": int}`` when the kernel
  exits (negative: killed by that signal, as :attr:`subprocess.Popen.returncode`), after
  which the zygote closes the connection.

A kernel whose client closes the connection before the kernel exits (the client process
died) is killed. The zygote exits when its parent (the process that started it) exits, and
then kills the kernels it forked. Any process of the same user may be a client: the worker
processes of a run share the zygote their main process started.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import json
import os
import selectors
import shutil
import signal
import socket
import sys
import traceback
from pathlib import Path

from nsdval.run import kernel_imports

MAX_MESSAGE = 1 << 20
POLL_SECONDS = 0.5
READY = b"ready\n"


def returncode(status):
    """A ``waitpid`` status as a :attr:`subprocess.Popen.returncode`."""
    return os.waitstatus_to_exitcode(status)


class Zygote:
    """The fork server: accepts requests, forks kernels, reports their exits.

    Parameters
    ----------
    path : str
        Path of the Unix socket to listen on.
    owner : int
        Pid of the owner process; the zygote exits when its parent is no longer ``owner``.
    folder : str, optional
        A private folder (of the socket and the zygote's log) to remove when it exits.
    """

    def __init__(self, path, owner, folder=None):
        self.path = path
        self.owner = owner
        self.folder = folder
        self.children = {}  # pid -> connection waiting for its exit report
        self.selector = selectors.DefaultSelector()
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.listener.bind(path)
        self.listener.listen(64)
        self.listener.setblocking(False)
        self.wakeup_r, self.wakeup_w = socket.socketpair()
        for sock in (self.wakeup_r, self.wakeup_w):
            sock.setblocking(False)
        self.selector.register(self.listener, selectors.EVENT_READ, "accept")
        self.selector.register(self.wakeup_r, selectors.EVENT_READ, "wakeup")

    def install_signals(self):
        """Wake the loop on SIGCHLD; exit cleanly on SIGTERM; ignore SIGINT."""
        signal.set_wakeup_fd(self.wakeup_w.fileno(), warn_on_full_buffer=False)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.signal(signal.SIGTERM, lambda *_: self.stop())
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    def serve(self):
        """Serve requests until the owner exits."""
        while os.getppid() == self.owner:
            for key, _ in self.selector.select(POLL_SECONDS):
                if key.data == "accept":
                    self.accept()
                elif key.data == "wakeup":
                    self.drain_wakeup()
                elif key.data == "client":
                    self.client_gone(key.fileobj)
                else:
                    self.handle(key.fileobj)
            self.reap()
        self.stop()

    def accept(self):
        """Accept a connection; its first message is a launch request."""
        try:
            conn, _ = self.listener.accept()
        except BlockingIOError:
            return
        conn.setblocking(True)
        self.selector.register(conn, selectors.EVENT_READ, "request")

    def drain_wakeup(self):
        """Empty the signal wake-up socket."""
        try:
            while self.wakeup_r.recv(4096):
                pass
        except BlockingIOError:
            pass

    def handle(self, conn):
        """Read one launch request from ``conn`` and fork its kernel."""
        self.selector.unregister(conn)
        fds = []
        try:
            data, fds, _, _ = socket.recv_fds(conn, MAX_MESSAGE, 2)
            if not data:
                conn.close()
                return
            request = json.loads(data)
            pid = self.fork(request, fds, conn)
        except Exception as exc:
            self.reply(conn, {"error": f"{type(exc).__name__}: {exc}"})
            conn.close()
            return
        finally:
            for fd in fds:
                os.close(fd)
        self.children[pid] = conn
        self.reply(conn, {"pid": pid})
        self.selector.register(conn, selectors.EVENT_READ, "client")

    @staticmethod
    def reply(conn, message):
        """Send ``message`` on ``conn``, ignoring a client that went away."""
        try:
            conn.send(json.dumps(message).encode())
        except OSError:
            pass

    def fork(self, request, fds, conn):
        """Fork a kernel for ``request`` sent on ``conn``; return its pid (in the zygote)."""
        argv = [str(arg) for arg in request["argv"]]
        cwd = request.get("cwd")
        env = {str(k): str(v) for k, v in request.get("env", {}).items()}
        pid = os.fork()
        if pid:
            return pid
        self.become_kernel(argv, cwd, env, fds, conn)  # never returns

    def become_kernel(self, argv, cwd, env, fds, conn):
        """In the forked child: drop the zygote's resources and run ipykernel."""
        code = 1
        try:
            conn.close()
            self.close_in_child()
            os.setsid()
            redirect_stdio(fds)
            code = run_kernel(argv, cwd, env)
        except BaseException:
            traceback.print_exc()
        finally:
            flush_stdio()
            os._exit(code)

    def close_in_child(self):
        """Close the zygote's sockets and restore default signal handling."""
        signal.set_wakeup_fd(-1)
        for signum in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        atexit.unregister(self.stop)
        for key in list(self.selector.get_map().values()):
            key.fileobj.close()
        for conn in self.children.values():
            conn.close()
        self.children = {}
        self.wakeup_w.close()
        self.selector.close()

    def client_gone(self, conn):
        """A client's connection became readable: it closed, so kill its kernel.

        Clients send nothing after their request; end-of-file means the client process
        died or gave the kernel up. A plainly launched kernel would notice its parent's
        death the same way (ipykernel's parent poller).
        """
        self.selector.unregister(conn)
        for pid, child_conn in self.children.items():
            if child_conn is conn:
                try:
                    os.killpg(pid, signal.SIGKILL)
                except OSError:
                    pass

    def reap(self):
        """Collect exited kernels and report each exit to its client."""
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if not pid:
                return
            conn = self.children.pop(pid, None)
            if conn is not None:
                with contextlib.suppress(KeyError, ValueError):  # not watched any more
                    self.selector.unregister(conn)
                self.reply(conn, {"exit": returncode(status)})
                conn.close()

    def stop(self):
        """Kill the remaining kernels, remove the socket and exit."""
        for pid in list(self.children):
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                pass
        Path(self.path).unlink(missing_ok=True)
        if self.folder:
            shutil.rmtree(self.folder, ignore_errors=True)
        flush_stdio()
        os._exit(0)


def redirect_stdio(fds):
    """Point fd 0 at /dev/null and fds 1, 2 at the client's stdout and stderr."""
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    targets = list(fds) + [devnull] * (2 - len(fds))
    for target, fd in zip(targets, (1, 2), strict=False):
        os.dup2(target, fd)
    for fd in {devnull, *fds}:
        if fd > 2:
            os.close(fd)


def run_kernel(argv, cwd, env):
    """Run an ipykernel the way ``python -m ipykernel_launcher ARGV`` would; return its code.

    Parameters
    ----------
    argv : list of str
        The launcher's arguments, e.g. ``["-f", "kernel.json"]``.
    cwd : str or None
        The kernel's working directory.
    env : dict
        The kernel's whole environment.
    """
    if cwd:
        os.chdir(cwd)
    os.environ.clear()
    os.environ.update({"JPY_PARENT_PID": str(os.getppid()), **kernel_imports.IMPORT_ENV, **env})
    sys.argv = [launcher_path(), *argv]
    reseed()
    from ipykernel import kernelapp

    # the parent poller's default was read from the environment when ipykernel was imported
    args = [*argv, f"--IPKernelApp.parent_handle={os.getppid()}"]
    try:
        kernelapp.IPKernelApp.launch_instance(argv=args)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    atexit._run_exitfuncs()
    return code


def launcher_path():
    """Path of ``ipykernel_launcher.py``: ``sys.argv[0]`` of a kernel started with ``-m``."""
    spec = importlib.util.find_spec("ipykernel_launcher")
    return spec.origin if spec is not None and spec.origin else "ipykernel_launcher"


def reseed():
    """Give the child fresh random state, as a new interpreter would have.

    The :mod:`random` module reseeds itself after a fork; numpy's global generator does
    not, so every kernel would otherwise draw the same "random" numbers.
    """
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed()


def flush_stdio():
    """Flush Python's standard streams, ignoring closed ones."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass


def main(argv=None):
    """Entry point: ``python -m nsdval.run.zygote SOCKET_PATH [FOLDER]``.

    Imports the modules, listens, writes ``ready`` on stdout, then serves until the
    parent process exits; then removes ``FOLDER``, if given.
    """
    argv = sys.argv[1:] if argv is None else argv
    # like ipykernel_launcher: the working directory is not importable (init_path adds '')
    if sys.path and sys.path[0] in ("", str(Path.cwd())):
        del sys.path[0]
    owner = os.getppid()
    folder = argv[1] if len(argv) > 1 else None
    zygote = Zygote(argv[0], owner, folder)  # bind first: a bad socket path fails fast
    atexit.register(zygote.stop)
    kernel_imports.preload()
    zygote.install_signals()
    os.write(1, READY)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)
    zygote.serve()


if __name__ == "__main__":
    main()
