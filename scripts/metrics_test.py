"""Reads /metrics of a synclayer server and node with prometheus_client's parser (scripts/metrics-test).

Every name in Docs/Operations.md's metrics tables must be exposed with its documented type, and the
counters and histograms that writes move must have moved after 20 writes reached the server. The
server runs on SQLite, then, when SYNCLAYER_TEST_POSTGRES names a database (scripts/with-postgres),
on PostgreSQL, where the table of the server on PostgreSQL must be exposed too.
Loopback only. Every process it starts is stopped by its pid, whatever happens.
"""
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

BIN, DOCS = sys.argv[1], sys.argv[2]
DEADLINE = 60  # seconds for the whole run


def documented():
    """{'server': …, 'postgres': …, 'node': {name: type}} from the three tables of the Metrics section."""
    tables, current = {"server": {}, "postgres": {}, "node": {}}, None
    for line in open(DOCS, encoding="utf-8"):
        if line.startswith("### The server on PostgreSQL"):
            current = "postgres"
        elif line.startswith("### The server"):
            current = "server"
        elif line.startswith("### A node"):
            current = "node"
        elif line.startswith("#"):
            current = None
        elif current and (m := re.match(r"\| `(synclayer_[a-z_]+)[^`]*` \| (\w+) \|", line)):
            tables[current][m.group(1)] = m.group(2)
    assert tables["server"] and tables["postgres"] and tables["node"], "no metrics tables found in " + DOCS
    return tables


def get(url):
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.headers.get("Content-Type", ""), response.read().decode()


def scrape(base):
    content_type, text = get(base + "/metrics")
    assert content_type.startswith("text/plain; version=0.0.4"), content_type
    families = {f.name: f for f in text_string_to_metric_families(text)}
    samples = {}
    for family in families.values():
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return families, samples


def value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def await_line(process, prefix, log):
    end = time.monotonic() + 30
    while time.monotonic() < end:
        line = process.stdout.readline()
        if not line:
            break
        log.append(line)
        if line.startswith(prefix):
            return line.split()[-1]
    raise SystemExit(f"no '{prefix}' line; output so far:\n{''.join(log[-10:])}")


def run(store, data, tables):
    """A server on `data` (None: a new SQLite file) and a node; returns the failures, each prefixed with `store`."""
    work = tempfile.mkdtemp(prefix="metrics-test.")
    processes = []
    try:
        server = subprocess.Popen([BIN, "server", "--host", "127.0.0.1", "--port", "0", "--data", data or f"{work}/server.sqlite"],
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        processes.append(server)
        server_url = await_line(server, "listening on", [])
        node = subprocess.Popen([BIN, "node", "--data", f"{work}/node.sqlite", "--server", server_url, "--collections", "notes",
                                 "--log-level", "warning"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        processes.append(node)
        control = await_line(node, "control", [])

        start = time.monotonic()
        while json.loads(get(control + "/status")[1])["link"] != "connected":
            assert time.monotonic() - start < DEADLINE, "the node never connected"
            time.sleep(0.05)
        _, server_before = scrape(server_url)
        _, node_before = scrape(control)

        for i in range(20):
            request = urllib.request.Request(f"{control}/collections/notes/n{i}", data=json.dumps({"text": f"note {i}"}).encode(),
                                             method="PUT", headers={"Content-Type": "application/json"})
            urllib.request.urlopen(request, timeout=10).read()
        while json.loads(get(control + "/status")[1])["outbox"] != 0:
            assert time.monotonic() - start < DEADLINE, "the writes never reached the server"
            time.sleep(0.05)

        failures = []
        for side, base, before in (("server", server_url, server_before), ("node", control, node_before)):
            families, after = scrape(base)
            for name, kind in tables[side].items():
                exposed = families.get(name[:-len("_total")] if kind == "counter" and name.endswith("_total") else name)
                if exposed is None:
                    failures.append(f"{side}: {name} is documented but not exposed")
                elif exposed.type != kind:
                    failures.append(f"{side}: {name} is a {exposed.type}, documented as a {kind}")
            moved = {
                "server": [("synclayer_server_changes_total", {}, 20), ("synclayer_server_commits_total", {}, 1),
                           ("synclayer_server_messages_total", {"direction": "in"}, 1),
                           ("synclayer_server_messages_total", {"direction": "out"}, 1),
                           ("synclayer_server_bytes_total", {"direction": "in"}, 20 * 30),
                           ("synclayer_store_commit_seconds_count", {}, 1),
                           ("synclayer_server_message_bytes_count", {"direction": "in"}, 1)],
                "node": [("synclayer_node_operations_queued_total", {}, 20), ("synclayer_node_operations_synced_total", {}, 20),
                         ("synclayer_store_commit_seconds_count", {}, 20)],
            }[side]
            for name, labels, least in moved:
                grew = value(after, name, **labels) - value(before, name, **labels)
                if grew < least:
                    failures.append(f"{side}: {name}{labels} grew by {grew}, expected at least {least}")
            print(f"{store}, {side}: {len(tables[side])} documented metrics exposed; "
                  + ", ".join(f"{n}{l or ''} +{value(after, n, **l) - value(before, n, **l):g}" for n, l, _ in moved))
            if side == "node":
                for name, least in (("synclayer_node_link_connected", 1), ("synclayer_node_connects_total", 1),
                                    ("synclayer_node_connect_seconds_count", 1), ("synclayer_process_resident_bytes", 1e6)):
                    if value(after, name) < least:
                        failures.append(f"node: {name} is {value(after, name)}, expected at least {least}")
                if value(after, "synclayer_node_outbox_changes") != 0:
                    failures.append("node: the outbox gauge is not 0 once every write is acknowledged")
            else:
                if value(after, "synclayer_server_connections") < 1:
                    failures.append("server: no open connection counted while the node is linked")
                if value(after, "synclayer_server_subscribers", collection="notes") != 1:
                    failures.append("server: the node's subscription to notes is not counted")
                if value(after, "synclayer_server_head_seq") != 20 or value(after, "synclayer_server_cluster_head_seq") != 20:
                    failures.append("server: head gauges are not 20 after 20 changes")
        return [f"{store}, {failure}" for failure in failures]
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()


def main():
    tables = documented()
    failures = run("SQLite", None, tables)
    if url := os.environ.get("SYNCLAYER_TEST_POSTGRES"):
        failures += run("PostgreSQL", url, {**tables, "server": {**tables["server"], **tables["postgres"]}})
    else:
        print("no SYNCLAYER_TEST_POSTGRES: the server on PostgreSQL is not checked")
    if failures:
        raise SystemExit("metrics-test: FAIL\n  " + "\n  ".join(failures))
    print("metrics-test: PASS")


main()
