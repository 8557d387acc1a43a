"""A private busd on a socket of its own: for the Python binding's tests
(test_bus_ipc.py) and the cross-language test (bindings/interop/interop.py,
which puts this folder on its path)."""

import os
import signal
import subprocess
import time


class BusdProcess:
    """busd (the executable at path) serving directory/busd.sock, its output
    in directory/busd.log; started by the constructor, which returns once
    busd serves (serves(), a subclass's).  Start-up failures raise error."""

    error = RuntimeError
    poll_s = 0.01

    def __init__(self, path, directory):
        self.socket = os.path.join(directory, "busd.sock")
        self.logpath = os.path.join(directory, "busd.log")
        self.log = open(self.logpath, "w+")
        self.proc = subprocess.Popen(
            [path, "--socket", self.socket, "--log-level", "warn"],
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while True:
            if self.proc.poll() is not None:
                raise self.error("busd exited (%d) before serving:\n%s" % (
                    self.proc.returncode, self.log_text()))
            if os.path.exists(self.socket) and self.serves():
                return
            if time.monotonic() > deadline:
                self.terminate()
                raise self.error("busd did not serve %s in 20 s" % self.socket)
            time.sleep(self.poll_s)

    def serves(self):
        """Whether busd answers on self.socket (which exists)."""
        raise NotImplementedError

    def log_text(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def terminate(self):
        """SIGTERM, then SIGKILL if busd has not exited in 20 s.  Returns
        False if it had to be killed."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                return False
        return True
