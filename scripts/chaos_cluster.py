"""The chaos harness's hosts and processes: a server and N nodes on the virtual LAN of scripts/netns-hosts.

Host 1 runs `synclayer server`, hosts 2..N+1 run `synclayer node --mesh`. Every process is started with
`netns-hosts spawn` and remembered by pid and start time, so it is only ever signalled while it is
still the same process. Faults: `kill` (SIGKILL), `cut`/`mend` (netns-hosts cut/mend: silent, both
directions, between two hosts), `link` (a host's cable at the bridge: cut from everyone), `shape` (a
host's cable narrowed with tbf: packets delayed and, past 300 ms of queue, dropped).
"""
import json
import os
import signal
import subprocess
import time

SERVER_HOST = 1
SERVER_URL = "http://10.77.0.11:8080"
CONTROL = "http://127.0.0.1:7000"  # each node's control endpoint, on lo inside its own host


def start_time(pid):
    """Field 22 of /proc/PID/stat (counted after the "(comm)" field, which may hold spaces)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return fields[19], fields[0]
    except (OSError, IndexError):
        return None, None


class Process:
    """One spawned process: not our child (setsid + nsenter), so liveness is read from /proc."""

    def __init__(self, pid):
        self.pid = pid
        self.started, _ = start_time(pid)

    def alive(self):
        started, state = start_time(self.pid)
        return started is not None and started == self.started and state != "Z"

    def signal(self, sig):
        if self.alive():
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass


class Lan:
    """scripts/netns-hosts, with our prefix: every call is one of its subcommands."""

    def __init__(self, root, prefix, hosts):
        self.tool = os.path.join(root, "scripts", "netns-hosts")
        self.env = dict(os.environ, NETNS_PREFIX=prefix)
        self.hosts = hosts
        self.is_up = False

    def run(self, *args, timeout=30, check=True):
        return subprocess.run([self.tool, *map(str, args)], env=self.env, capture_output=True, text=True,
                              timeout=timeout, check=check)

    def up(self):
        self.run("up", self.hosts, timeout=60)
        self.is_up = True

    def down(self):
        if self.is_up:
            self.run("down", timeout=60, check=False)
            self.is_up = False

    def exec(self, host, *args, timeout=20):
        """Runs a command in a host; returns (exit status, stdout, stderr); a timeout is status 124."""
        try:
            r = self.run("exec", host, *args, timeout=timeout, check=False)
            return r.returncode, r.stdout, r.stderr
        except subprocess.TimeoutExpired:
            return 124, "", "timed out"

    def popen(self, host, *args):
        return subprocess.Popen([self.tool, "exec", str(host), *map(str, args)], env=self.env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def spawn(self, host, log, *args):
        return Process(int(self.run("spawn", host, log, *args).stdout.strip()))


class Cluster:
    """The server and the nodes of one run, their files in `work`, and the faults applied to them."""

    def __init__(self, lan, binary, work, nodes):
        self.lan, self.bin, self.work = lan, binary, work
        self.node_hosts = list(range(2, nodes + 2))
        self.server = None
        self.procs = {}  # host -> Process (running or not)
        self.offsets = {h: 0 for h in self.node_hosts}
        self.cut = set()  # frozenset({a, b}) pairs cut with netns-hosts cut
        self.unplugged = set()
        self.shaped = set()
        self.secret = os.path.join(work, "team.secret")
        with open(self.secret, "w") as f:
            f.write(os.urandom(24).hex())

    # --- processes ---------------------------------------------------------------------------------

    def start_server(self):
        self.server = self.lan.spawn(SERVER_HOST, os.path.join(self.work, "server.log"), self.bin, "server",
                                     "--host", "10.77.0.11", "--port", "8080", "--data", os.path.join(self.work, "server.sqlite"))
        return self.wait(lambda: self.server_get("/health") is not None, 15, "the server answers /health")

    def start_node(self, host, offset=None):
        if offset is not None:
            self.offsets[host] = offset
        self.procs[host] = self.lan.spawn(
            host, os.path.join(self.work, f"node{host}.log"), self.bin, "node",
            "--data", os.path.join(self.work, f"node{host}.sqlite"), "--server", SERVER_URL, "--collections", "todos",
            "--control", "7000", "--mesh", "--team", "chaos", "--team-secret-file", self.secret, "--mesh-host", "0.0.0.0",
            "--mesh-port", "7100", "--ping-interval", "1", "--sync-interval", "1", "--reconnect-delay", "0.5",
            "--heartbeat", "0.5", f"--clock-offset={self.offsets[host]}")
        return self.wait(lambda: self.status(host) is not None, 15, f"node {host}'s control endpoint answers")

    def kill_node(self, host):
        self.procs[host].signal(signal.SIGKILL)
        self.wait(lambda: not self.procs[host].alive(), 5, f"node {host} gone after SIGKILL")

    def kill_server(self):
        self.server.signal(signal.SIGKILL)
        self.wait(lambda: not self.server.alive(), 5, "server gone after SIGKILL")

    def node_up(self, host):
        return host in self.procs and self.procs[host].alive()

    def all_processes(self):
        return [p for p in [self.server, *self.procs.values()] if p is not None]

    def stop_all(self):
        """TERM everything we started, up to 5 s, then KILL what is left (by pid, never by name)."""
        procs = [p for p in self.all_processes() if p.alive()]
        for p in procs:
            p.signal(signal.SIGTERM)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(p.alive() for p in procs):
            time.sleep(0.1)
        for p in procs:
            p.signal(signal.SIGKILL)

    # --- faults on the wire ------------------------------------------------------------------------

    def cut_pair(self, a, b):
        self.lan.run("cut", a, b)
        self.cut.add(frozenset((a, b)))

    def mend_pair(self, a, b):
        self.lan.run("mend", a, b)
        self.cut.discard(frozenset((a, b)))

    def unplug(self, host):
        self.lan.run("link", host, "down")
        self.unplugged.add(host)

    def replug(self, host):
        self.lan.run("link", host, "up")
        self.unplugged.discard(host)

    def shape(self, host, rate):
        self.lan.run("shape", host, rate)
        self.shaped.add(host)

    def unshape(self, host):
        self.lan.run("shape", host, "off")
        self.shaped.discard(host)

    def heal_wire(self):
        for pair in list(self.cut):
            self.mend_pair(*sorted(pair))
        for host in list(self.unplugged):
            self.replug(host)
        for host in list(self.shaped):
            self.unshape(host)

    # --- reading state -----------------------------------------------------------------------------

    def curl(self, host, url, *extra, timeout=5):
        rc, out, _ = self.lan.exec(host, "curl", "-sS", "--fail", "--max-time", str(timeout), *extra, url, timeout=timeout + 5)
        if rc != 0:
            return None
        try:
            return json.loads(out)
        except ValueError:
            return None

    def status(self, host):
        return self.curl(host, CONTROL + "/status", timeout=3)

    def documents(self, host):
        docs = self.curl(host, CONTROL + "/collections/todos")
        return None if docs is None else {d["id"]: d["data"] for d in docs}

    def server_get(self, path):
        return self.curl(SERVER_HOST, SERVER_URL + path, timeout=3)

    def server_changes(self):
        """Every change in the server's log (POST /sync/_pull by its own cursor, pages of 5000)."""
        cursor, owner, changes = 0, "", []
        for _ in range(100):
            body = json.dumps({"cursor": cursor, "cursorFor": owner, "collections": ["todos"], "limit": 5000})
            page = self.curl(SERVER_HOST, SERVER_URL + "/sync/_pull", "-X", "POST", "-H", "content-type: application/json",
                             "-d", body, timeout=10)
            if page is None:
                return None
            changes += page["changes"]
            cursor, owner = page["cursor"], page["serverId"]
            if not page.get("more"):
                return changes
        return None

    # --- writes through the CLI, as a user would --------------------------------------------------

    def write_args(self, op, doc, fields):
        if op == "delete":
            return [self.bin, "delete", "--node", CONTROL, "todos", doc]
        args = [self.bin, "put", "--node", CONTROL, "todos", json.dumps(fields, sort_keys=True), "--id", doc]
        return args + (["--merge"] if op == "update" else [])

    def write(self, host, op, doc, fields):
        rc, out, err = self.lan.exec(host, *self.write_args(op, doc, fields), timeout=35)
        return rc, (err or out).strip()

    def write_and_kill(self, host, op, doc, fields, delay):
        """Starts the write, SIGKILLs the node `delay` seconds later, and returns the write's result."""
        proc = self.lan.popen(host, *self.write_args(op, doc, fields))
        time.sleep(delay)
        self.kill_node(host)
        try:
            out, err = proc.communicate(timeout=3)
        except subprocess.TimeoutExpired:
            # A put whose node is gone retries the refused connection until its own 30 s timeout:
            # its outcome is unknown either way, so stop waiting (it is our child: nsenter execs in place).
            proc.kill()
            out, err = proc.communicate()
            err = (err or "") + " (killed: still waiting 3 s after its node was killed)"
        return proc.returncode, (err or out).strip()

    # --- waiting -----------------------------------------------------------------------------------

    @staticmethod
    def wait(condition, timeout, what):
        deadline = time.monotonic() + timeout
        while True:
            if condition():
                return True
            if time.monotonic() > deadline:
                raise TimeoutError(f"not within {timeout} s: {what}")
            time.sleep(0.1)
