"""What the scripts beside this file share: a node address, a socket read line by line, and a
percentile of sorted samples.

Imported by the probe_*.py scripts and by compare, which Python runs with this folder on its
path. Standard library only.
"""


def percentile(sorted_values, p):
    """The p-th percentile (nearest rank) of values sorted ascending; None when there are none."""
    if not sorted_values:
        return None
    return sorted_values[min(len(sorted_values) - 1, int(round((len(sorted_values) - 1) * p / 100)))]


def host_port(text):
    """HOST:PORT (an IPv6 host may be bracketed) as (host, port)."""
    host, _, port = text.rpartition(":")
    return host.strip("[]"), int(port)


class Lines:
    """The lines a node sends on a socket, one at a time, without their newline."""

    def __init__(self, sock, timeout=120.0):
        self.sock = sock
        self.timeout = timeout
        self.buf = b""

    def read(self, timeout=None):
        """The next line; None once the node closed the connection."""
        self.sock.settimeout(self.timeout if timeout is None else timeout)
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return line
