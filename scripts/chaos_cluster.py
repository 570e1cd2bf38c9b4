"""The chaos harness's hosts and processes: a server and N nodes on the virtual LAN of scripts/netns-hosts.

Host 1 runs `synclayer server`, hosts 2..N+1 run `synclayer node --mesh`. Every process is started with
`netns-hosts spawn` and remembered by pid and start time, so it is only ever signalled while it is
still the same process. Faults: `kill` (SIGKILL), `cut`/`mend` (netns-hosts cut/mend: silent, both
directions, between two hosts), `link` (a host's cable at the bridge: cut from everyone), `shape` (a
host's cable narrowed with tbf: packets delayed and, past 300 ms of queue, dropped).

PgCluster (scripts/chaos --postgres): host 1 runs a private PostgreSQL cluster (as the `postgres`
user, inside host 1's namespaces, TCP on host 1's address only), hosts 2-4 run one `synclayer server`
instance each on the one database, and hosts 5.. run the nodes, each given all three instances.
"""
import glob
import json
import os
import shutil
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



def stop_processes(procs, first=signal.SIGTERM, grace=5):
    """Send `first` to those of `procs` still running, wait up to `grace` s, then SIGKILL what is left
    (by pid, never by name)."""
    procs = [p for p in procs if p is not None and p.alive()]
    for p in procs:
        p.signal(first)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(p.alive() for p in procs):
        time.sleep(0.1)
    for p in procs:
        p.signal(signal.SIGKILL)

class EndedAtStart(Exception):
    """A process started by the harness ended before it answered (it crashed, or refused its arguments)."""


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
        return self.started(self.server, "server.log", lambda: self.server_get("/health") is not None, 15,
                            "the server answers /health")

    def start_node(self, host, offset=None):
        if offset is not None:
            self.offsets[host] = offset
        self.procs[host] = self.lan.spawn(
            host, os.path.join(self.work, f"node{host}.log"), self.bin, "node",
            "--data", os.path.join(self.work, f"node{host}.sqlite"), "--server", self.server_urls(host), "--collections", "todos",
            "--control", "7000", "--mesh", "--team", "chaos", "--team-secret-file", self.secret, "--mesh-host", "0.0.0.0",
            "--mesh-port", "7100", "--ping-interval", "1", "--sync-interval", "1", "--reconnect-delay", "0.5",
            "--heartbeat", "0.5", f"--clock-offset={self.offsets[host]}")
        return self.started(self.procs[host], f"node{host}.log", lambda: self.status(host) is not None, 15,
                            f"node {host}'s control endpoint answers")

    def server_urls(self, host):
        """The --server argument of the node on `host`."""
        return SERVER_URL

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
        stop_processes(self.all_processes())

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

    def started(self, process, log, answers, timeout, what):
        """Waits until `answers()`, as `wait` does, but fails at once, naming why, if `process` ends
        first: a process that crashed as it started is not one that is slow to answer."""
        self.wait(lambda: answers() or not process.alive(), timeout, what)
        if answers():
            return True
        path = os.path.join(self.work, log)
        try:
            with open(path, errors="replace") as f:
                lines = f.read().splitlines()
        except OSError:
            lines = []
        why = next((line.strip("* ") for line in lines if "Program crashed" in line or "Fatal error" in line), None)
        raise EndedAtStart(f"{what}: the process {process.pid} ended as it started ({why or 'no crash report'}; see {path})")

    @staticmethod
    def wait(condition, timeout, what):
        deadline = time.monotonic() + timeout
        while True:
            if condition():
                return True
            if time.monotonic() > deadline:
                raise TimeoutError(f"not within {timeout} s: {what}")
            time.sleep(0.1)


PG_HOST = 1
PG_ADDR = "10.77.0.11"
PG_PORT = 5432
INSTANCE_HOSTS = (2, 3, 4)


def pg_bin():
    """The newest installed PostgreSQL's bin directory (Debian: /usr/lib/postgresql/N/bin), or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda d: int(d.split("/")[-2]) if d.split("/")[-2].isdigit() else 0)
    return found[-1] if found else None


class PgCluster(Cluster):
    """PostgreSQL on host 1, three server instances on hosts 2-4 sharing its database `synclayer`, nodes
    on hosts 5.. (each with all three instances in `--server`, in a rotated order to spread them).
    PostgreSQL refuses to run as root: initdb, pg_ctl and psql run as `postgres` (runuser), pg_ctl and
    psql inside host 1's namespaces (`netns-hosts exec 1`). Its data directory is WORK/postgres (removed
    by stop_all), its log WORK/postgres.log."""

    def __init__(self, lan, binary, work, nodes):
        super().__init__(lan, binary, work, nodes)
        self.instance_hosts = list(INSTANCE_HOSTS)
        self.node_hosts = list(range(INSTANCE_HOSTS[-1] + 1, INSTANCE_HOSTS[-1] + 1 + nodes))
        self.offsets = {h: 0 for h in self.node_hosts}
        self.instances = {}  # host -> Process
        self.expected_down = set()  # instances the schedule killed and has not restarted yet
        self.reported = set()  # pids already reported as exited by themselves
        self.postmaster = None
        self.pg_bin = pg_bin()
        self.pg_dir = os.path.join(work, "postgres")
        self.pg_data = os.path.join(self.pg_dir, "data")
        self.pg_log = os.path.join(work, "postgres.log")
        self.database = f"postgres://postgres@{PG_ADDR}:{PG_PORT}/synclayer"

    @staticmethod
    def url(host):
        return f"http://10.77.0.{10 + host}:8080"

    def server_urls(self, host):
        k = self.node_hosts.index(host) % len(self.instance_hosts)
        return ",".join(self.url(h) for h in self.instance_hosts[k:] + self.instance_hosts[:k])

    # --- PostgreSQL --------------------------------------------------------------------------------

    def as_postgres(self, tool, *args, timeout=40):
        """A PostgreSQL tool as the postgres user inside host 1; returns (status, stdout, stderr)."""
        return self.lan.exec(PG_HOST, "runuser", "-u", "postgres", "--", os.path.join(self.pg_bin, tool), *args, timeout=timeout)

    def pg_ctl(self, *args, timeout=40):
        rc, out, err = self.as_postgres("pg_ctl", "-D", self.pg_data, "-l", self.pg_log, "-w", "-t", "30", *args, timeout=timeout)
        if rc != 0:
            raise subprocess.CalledProcessError(rc, f"pg_ctl {' '.join(args)}", out, err)
        self.track_postmaster()

    def track_postmaster(self):
        """The postmaster's pid, from the first line of its postmaster.pid, remembered as a Process."""
        try:
            with open(os.path.join(self.pg_data, "postmaster.pid")) as f:
                pid = int(f.readline())
        except (OSError, ValueError):
            return
        if self.postmaster is None or self.postmaster.pid != pid or not self.postmaster.alive():
            self.postmaster = Process(pid)

    def start_postgres(self):
        """initdb (once per run), TCP on host 1's address only, trust for the LAN's /24, then start and createdb."""
        if self.pg_bin is None:
            raise OSError("PostgreSQL is not installed (scripts/install-deps)")
        fresh = not os.path.exists(self.pg_data)
        if fresh:
            os.makedirs(self.pg_dir)
            shutil.chown(self.pg_dir, "postgres", "postgres")
            with open(self.pg_log, "w"):
                pass
            shutil.chown(self.pg_log, "postgres", "postgres")
            subprocess.run(["runuser", "-u", "postgres", "--", os.path.join(self.pg_bin, "initdb"), "--no-sync", "--auth=trust",
                            "--username=postgres", "-D", self.pg_data], cwd="/", capture_output=True, text=True, check=True, timeout=60)
            with open(os.path.join(self.pg_data, "pg_hba.conf"), "a") as f:
                f.write("host all all 10.77.0.0/24 trust\n")
            # Operations.md's settings for instances that may be cut off (a cut one may hold the head lock).
            with open(os.path.join(self.pg_data, "postgresql.conf"), "a") as f:
                f.write(f"listen_addresses = '{PG_ADDR}'\nport = {PG_PORT}\nunix_socket_directories = '{self.pg_dir}'\n"
                        "max_connections = 200\nidle_in_transaction_session_timeout = '10s'\n"
                        "tcp_keepalives_idle = 10\ntcp_keepalives_interval = 5\ntcp_keepalives_count = 3\n")
        self.pg_ctl("start")
        if fresh:
            rc, out, err = self.as_postgres("createdb", "-h", self.pg_dir, "-p", str(PG_PORT), "synclayer")
            if rc != 0:
                raise subprocess.CalledProcessError(rc, "createdb synclayer", out, err)

    def restart_postgres(self, mode, down=0):
        """fast: `pg_ctl restart -m fast`; immediate: `pg_ctl stop -m immediate`, `down` seconds, start."""
        if mode == "fast":
            self.pg_ctl("restart", "-m", "fast")
        else:
            self.pg_ctl("stop", "-m", "immediate")
            time.sleep(down)
            self.pg_ctl("start")

    def pg_up(self):
        return self.postmaster is not None and self.postmaster.alive()

    def psql(self, sql):
        """One query's rows (unaligned, tuples only) through host 1's unix socket, or None."""
        rc, out, _ = self.as_postgres("psql", "-h", self.pg_dir, "-p", str(PG_PORT), "-d", "synclayer", "-v", "ON_ERROR_STOP=1",
                                      "-Atc", sql, timeout=20)
        return out.strip() if rc == 0 else None

    def stop_postgres(self):
        """pg_ctl stop -m fast; if the postmaster is still there, SIGQUIT then SIGKILL it and its children
        by pid. Then the data directory is removed (the log stays in the work dir)."""
        if self.postmaster is not None and self.postmaster.alive():
            try:
                self.pg_ctl("stop", "-m", "fast", timeout=20)
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
                pass
            if self.postmaster.alive():
                children = [Process(int(p)) for p in os.listdir("/proc") if p.isdigit() and parent(int(p)) == self.postmaster.pid]
                stop_processes([self.postmaster], first=signal.SIGQUIT)
                for p in children:
                    p.signal(signal.SIGKILL)
        shutil.rmtree(self.pg_dir, ignore_errors=True)

    # --- the instances -----------------------------------------------------------------------------

    def start_instance(self, host):
        self.instances[host] = self.lan.spawn(host, os.path.join(self.work, f"instance{host}.log"), self.bin, "server",
                                              "--host", f"10.77.0.{10 + host}", "--port", "8080", "--data", self.database)
        self.expected_down.discard(host)
        return self.started(self.instances[host], f"instance{host}.log", lambda: self.instance_get(host, "/health") is not None,
                            20, f"the instance on host {host} answers /health")

    def kill_instance(self, host):
        self.expected_down.add(host)
        self.instances[host].signal(signal.SIGKILL)
        self.wait(lambda: not self.instances[host].alive(), 5, f"the instance on host {host} gone after SIGKILL")

    def instance_up(self, host):
        return host in self.instances and self.instances[host].alive()

    def start_server(self):
        """PostgreSQL if it is not running, and every instance that is not."""
        if not self.pg_up():
            self.start_postgres()
        for h in self.instance_hosts:
            if not self.instance_up(h):
                self.start_instance(h)
        return True

    def exited_by_themselves(self):
        """Instances that are not running although the schedule did not kill them, and PostgreSQL if it
        is not running; each process reported once."""
        gone = []
        for h, p in self.instances.items():
            if h not in self.expected_down and not p.alive() and p.pid not in self.reported:
                self.reported.add(p.pid)
                gone.append(f"the instance on host {h} (pid {p.pid}) exited by itself (see instance{h}.log)")
        if self.postmaster is not None and not self.postmaster.alive() and self.postmaster.pid not in self.reported:
            self.reported.add(self.postmaster.pid)
            gone.append(f"PostgreSQL's postmaster (pid {self.postmaster.pid}) exited by itself (see postgres.log)")
        return gone

    def all_processes(self):
        return [p for p in [self.postmaster, *self.instances.values(), *self.procs.values()] if p is not None]

    def stop_all(self):
        """The instances and nodes as in Cluster.stop_all, then PostgreSQL (pg_ctl first)."""
        stop_processes([*self.instances.values(), *self.procs.values()])
        self.stop_postgres()

    # --- reading state -----------------------------------------------------------------------------

    def instance_get(self, host, path):
        """From the instance's own host (it answers there even when its cable is out)."""
        return self.curl(host, self.url(host) + path, timeout=3)

    def server_get(self, path):
        for h in self.instance_hosts:
            got = self.instance_get(h, path)
            if got is not None:
                return got
        return None

    def server_changes(self):
        cursor, owner, changes = 0, "", []
        for _ in range(100):
            body = json.dumps({"cursor": cursor, "cursorFor": owner, "collections": ["todos"], "limit": 5000})
            page = self.curl(self.instance_hosts[0], self.url(self.instance_hosts[0]) + "/sync/_pull", "-X", "POST", "-H",
                             "content-type: application/json", "-d", body, timeout=10)
            if page is None:
                return None
            changes += page["changes"]
            cursor, owner = page["cursor"], page["serverId"]
            if not page.get("more"):
                return changes
        return None


def parent(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None
