"""Child processes that end with `w2s-lf`: the environment they see, a supervisor that reaps
their whole tree, and `run_logged`, which runs a command under it with a log and a progress bar.

Why a supervisor: LLaMA-Factory starts torchrun, and torchrun starts every worker in a session
of its own (torch.distributed.elastic uses `start_new_session=True`). Neither a process group
nor PR_SET_PDEATHSIG on the first child reaches those workers, so killing `w2s-lf run` used to
leave torchrun and its 8 workers training into the run folder.

Every command therefore runs as `python proctree.py FD -- CMD...`, a small stdlib-only process
that
- makes itself a child subreaper (Linux), so a descendant whose parent dies is re-parented to it
  rather than to init: the whole tree stays findable under it by parent pid, whatever sessions
  the tree made;
- watches a pipe whose only write end `w2s-lf` holds. End of file means `w2s-lf` is gone (normal
  exit, exception, SIGINT, SIGTERM or SIGKILL alike: the kernel closes the pipe), and so does a
  SIGTERM/SIGINT/SIGHUP sent to the supervisor itself; it then sends SIGTERM to every descendant
  and SIGKILL to what is left after a grace period;
- when CMD exits, kills whatever CMD left behind and exits with CMD's status.

Run as a script by path with `python -I` so that it imports nothing from the project and starts
in a few milliseconds.
"""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import time
from collections import deque
from pathlib import Path

GRACE_S = 5.0            # SIGTERM to SIGKILL, when w2s-lf is gone
LEFTOVER_GRACE_S = 2.0   # the same for processes CMD leaves behind when it exits by itself
_POLL_S = 0.2
PROGRESS = re.compile(r"(\d+)/(\d+) \[")   # tqdm's `n/total [` counter


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Our environment for a child: this Python's bin folder (the project's venv) first on PATH.

    LLaMA-Factory runs the bare name `torchrun`, and the README runs `.venv/bin/w2s-lf` without
    activating the venv: without this, `torchrun` is not found, or another Python's is used.
    """
    env = {**os.environ, **(extra or {})}
    bin_dir = str(Path(sys.executable).parent)
    rest = [p for p in env.get("PATH", "").split(os.pathsep) if p and p != bin_dir]
    env["PATH"] = os.pathsep.join([bin_dir, *rest])
    return env


class Supervised:
    """`cmd` under the supervisor: `.proc` is the supervisor (its status is cmd's status).

    Leaving the `with` block stops the tree if it still runs (an exception, KeyboardInterrupt).
    """

    def __init__(self, cmd: list[str], env: dict[str, str] | None = None, **popen_kwargs):
        read_end, self._control = os.pipe()   # both close-on-exec: only the supervisor gets read_end
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-I", str(Path(__file__).resolve()), str(read_end), "--", *cmd],
                env=child_env(env), pass_fds=(read_end,), start_new_session=True, **popen_kwargs)
        except BaseException:
            os.close(self._control)
            raise
        finally:
            os.close(read_end)

    def wait(self) -> int:
        code = self.proc.wait()
        self.release()
        return code

    def release(self) -> None:
        """Close our end of the pipe: the supervisor stops the tree if it still runs."""
        if self._control is not None:
            os.close(self._control)
            self._control = None

    def stop(self, timeout: float = GRACE_S + 10) -> None:
        self.release()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:   # the supervisor itself hangs: nothing better to do
            self.proc.kill()
            self.proc.wait()

    def __enter__(self) -> "Supervised":
        return self

    def __exit__(self, *exc) -> None:
        if self.proc.poll() is None:
            self.stop()
        self.release()


# ----------------------------------------------------------------------------- the supervisor

def run_logged(cmd: list[str], log_path: str | Path, env: dict[str, str] | None = None,
               label: str | None = None, progress: bool = True, tail: int = 25,
               timeout: float | None = None) -> None:
    """Run `cmd`, teeing its output to `log_path` and showing one progress bar read from the
    `n/total [` counters that tqdm (ours, vLLM's, the HF Trainer's) prints. On failure, raise
    with the log's last lines. After `timeout` seconds the whole tree is stopped (a rank hung
    in a collective, say) and that is the failure."""
    import threading

    import tqdm

    from w2s_lf.errors import (
        W2SError,  # here, not at the top: the supervisor imports nothing of ours
    )

    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    last_lines: deque[str] = deque(maxlen=tail)
    bar = tqdm.tqdm(desc=label or Path(cmd[0]).name, disable=None if progress else True,  # None: off when not a TTY
                    leave=False, dynamic_ncols=True)
    # Append (a stage's several commands, and its resumes), unbuffered: when `w2s-lf` is killed
    # the log must still hold what the command printed up to then.
    with open(log_path, "ab", buffering=0) as log:
        log.write(("$ " + " ".join(cmd) + "\n").encode())
        try:   # under a supervisor: the whole tree ends with us (see w2s_lf.launch.proctree)
            tree = Supervised(cmd, env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        except OSError as e:
            raise W2SError(f"could not start {cmd[0]}: {e}") from None
        expired = threading.Event()
        # releasing the control pipe makes the supervisor stop the tree; our read then ends
        timer = threading.Timer(timeout, lambda: (expired.set(), tree.release())) if timeout else None
        with tree:
            if timer:
                timer.daemon = True
                timer.start()
            pending = b""
            while chunk := tree.proc.stdout.read1(65536):
                log.write(chunk)
                pending += chunk
                *pieces, pending = re.split(rb"[\r\n]", pending)
                for piece in pieces:
                    text = piece.decode(errors="replace").strip()
                    if not text:
                        continue
                    last_lines.append(text)
                    if m := PROGRESS.search(text):
                        bar.total, bar.n = int(m.group(2)), int(m.group(1))
                        bar.refresh()
            returncode = tree.wait()
            if timer:
                timer.cancel()
    bar.close()
    if returncode != 0:
        quoted = "\n  ".join(last_lines)
        how = f"was stopped after {timeout:g} s" if expired.is_set() else f"failed (exit {returncode})"
        raise W2SError(f"{' '.join(cmd[:3])} ... {how}; full log: {log_path}; last lines:\n  {quoted}")


def _set_subreaper() -> None:
    if sys.platform.startswith("linux"):
        import ctypes
        PR_SET_CHILD_SUBREAPER = 36
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def _live_descendants(root: int) -> list[int]:
    """Descendants of `root` by parent pid, zombies left out (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2:].split()   # after "pid (comm) "
        if fields[0] != b"Z":
            children.setdefault(int(fields[1]), []).append(int(name))
    found, todo = [], [root]
    while todo:
        for pid in children.get(todo.pop(), []):
            found.append(pid)
            todo.append(pid)
    return found


def _reap_adopted(child: subprocess.Popen) -> None:
    """Collect exited descendants re-parented to us (we are their subreaper), leaving our own
    child to its Popen, which keeps its exit status."""
    while True:
        try:
            info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return
        if info is None or info.si_pid == child.pid:
            return
        os.waitpid(info.si_pid, 0)


def _kill_tree(child: subprocess.Popen, grace: float) -> None:
    """SIGTERM every descendant, SIGKILL after `grace` seconds, until none is left."""
    if not os.path.isdir("/proc"):   # no /proc: the child's process group is the best we have
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(child.pid, sig)
            except (ProcessLookupError, PermissionError):
                return
            time.sleep(min(grace, 1.0))
        return
    deadline = time.monotonic() + grace
    termed: set[int] = set()
    while (pids := _live_descendants(os.getpid())) and time.monotonic() < deadline + 10:
        hard = time.monotonic() >= deadline   # then SIGKILL, for 10 s at most (a process stuck in the kernel)
        for pid in pids:
            if hard or pid not in termed:
                try:
                    os.kill(pid, signal.SIGKILL if hard else signal.SIGTERM)
                except ProcessLookupError:
                    pass
                termed.add(pid)
        time.sleep(0.05)
        child.poll()
        _reap_adopted(child)


def supervise(control_fd: int, cmd: list[str]) -> int:
    """Run `cmd`; stop its tree when `control_fd` reaches end of file or we are signalled."""
    _set_subreaper()
    stop: list[int] = []
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda signum, frame: stop.append(signum))
    try:
        child = subprocess.Popen(cmd, start_new_session=True)
    except OSError as e:
        print(f"could not start {cmd[0]}: {e}", file=sys.stderr)
        return 127
    parent_gone = False
    while child.poll() is None and not stop and not parent_gone:
        try:
            readable, _, _ = select.select([control_fd], [], [], _POLL_S)
        except InterruptedError:
            readable = []
        if readable and not os.read(control_fd, 4096):
            parent_gone = True
        _reap_adopted(child)
    done = child.returncode is not None
    _kill_tree(child, LEFTOVER_GRACE_S if done else GRACE_S)
    code = child.wait()
    return 128 - code if code < 0 else code


if __name__ == "__main__":
    fd, sep, *command = sys.argv[1:]
    if sep != "--" or not command:
        sys.exit("usage: proctree.py CONTROL_FD -- CMD [ARG...]")
    sys.exit(supervise(int(fd), command))
