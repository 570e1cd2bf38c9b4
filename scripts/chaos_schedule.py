"""The chaos harness's seeded schedule and its model of what every document must end as.

The schedule is drawn from `random.Random(seed)` alone, before the run, so the same seed, step count
and node count give the same schedule: that is the replay. Documents are of two kinds:

- **owned** (`n<host>d<k>`): written only by node <host>. One node writes them one after another, and
  a node stamps each write after every stamp already in the document, so the final state is the
  last acknowledged write in schedule order, whatever the clocks, cuts and kills. The model keeps,
  per document, the set of states it may end in: one state, except after a write whose outcome is
  unknown (its node was killed while it ran: it may or may not have committed).
- **shared** (`sh<k>`): written by any node, concurrent across cuts; last-writer-wins by HLC decides.
  Checked for convergence and provenance: every field holds a value some write gave it.

With `instances` (the PostgreSQL mode: PostgreSQL on host 1, server instances on the hosts given, nodes
on `hosts`) the server faults are the instances' and PostgreSQL's instead: `kill_instance` /
`restart_instance`, `restart_pg` (fast, or an immediate stop and a start), `cut_pg` / `mend_pg` (an
instance cut from host 1); `cut_server` cuts a node from one instance. Those two and `restart_pg` start
a burst of inserts on running nodes just before the fault, so changes are in flight when it hits. At
least one instance stays running and reaches PostgreSQL. Without `instances` the schedule is exactly
the single-server one (the same draws from the seed).
"""
import random

WRITE_OPS = ("insert", "update", "delete", "reinsert", "shared_put", "shared_update", "shared_delete", "write_kill")
FAULT_OPS = ("cut_server", "mend_server", "cut_peer", "mend_peer", "unplug", "replug", "flap", "shape", "unshape", "kill_node",
             "restart_node", "kill_server", "restart_server", "pause")
PG_FAULT_OPS = ("kill_instance", "restart_instance", "restart_pg", "cut_pg", "mend_pg")
RATES = ("64kbit", "256kbit", "1mbit")
SKEWS = (0, 3600, -3600, 600, -600)
SHARED = 4


def apply(op, state, fields):
    """One write on one possible state (None = absent) of a document."""
    if op in ("insert", "reinsert", "shared_put"):
        return dict(fields)
    if op in ("update", "shared_update"):
        return None if state is None else {**state, **fields}
    return None  # delete


def initial_offsets(seed, hosts):
    rng = random.Random(f"{seed}-clocks")
    offsets = {h: rng.choice(SKEWS) for h in hosts}
    if all(v == 0 for v in offsets.values()):
        offsets[rng.choice(hosts)] = 3600  # every run has at least one node an hour off
    return offsets


def plan(seed, steps, hosts, instances=None):
    """The schedule: a list of steps (dicts), drawn from the seed; see the module comment."""
    rng = random.Random(seed)
    pg = instances is not None
    inst_up = set(instances or ())
    wire = [*instances, *hosts] if pg else [1, *hosts]  # hosts that may be unplugged, narrowed, flapped with a node
    up = set(hosts)
    server_up = True
    cut, unplugged, shaped = set(), set(), set()
    docs = {h: {} for h in hosts}  # owner -> doc -> "present" | "absent" | "unknown" (as planned)
    counter = {h: 0 for h in hosts}
    schedule = []

    def fields_for(i, op):
        tag = f"s{i}"
        if op in ("update", "shared_update"):
            return {rng.choice(["a", "b", "c"]): tag, "w": tag}
        return {"a": tag, "b": tag, "w": tag} if rng.random() < 0.5 else {"a": tag, "w": tag}

    def reaches_pg(s):
        return s in inst_up and s not in unplugged and frozenset((1, s)) not in cut

    def may_lose(s):
        """Another instance stays running and reaching PostgreSQL if s goes."""
        return any(reaches_pg(x) for x in instances if x != s)

    def burst(i, live):
        """Inserts of new owned documents on 1-3 running nodes, started just before a server-side fault."""
        writes = []
        for h in (rng.sample(live, rng.randint(1, min(3, len(live)))) if live else []):
            counter[h] += 1
            doc = f"n{h}d{counter[h]}"
            docs[h][doc] = "present"
            writes.append({"host": h, "kind": "insert", "doc": doc, "fields": fields_for(i, "insert")})
        return writes

    for i in range(steps):
        live = sorted(up)
        options = []  # (weight, op)
        if live:
            options += [(14, "insert"), (8, "update"), (4, "delete"), (3, "reinsert"), (5, "shared_put"), (3, "shared_update"),
                        (2, "shared_delete"), (2, "write_kill")]
        if pg:
            options += [(4, "cut_server"), (4, "mend_server"), (3, "cut_peer"), (3, "mend_peer"), (2, "unplug"), (3, "replug"),
                        (2, "flap"), (2, "shape"), (3, "unshape"), (2, "kill_node"), (5, "restart_node"), (3, "kill_instance"),
                        (6, "restart_instance"), (3, "restart_pg"), (3, "cut_pg"), (5, "mend_pg"), (2, "pause")]
        else:
            options += [(4, "cut_server"), (4, "mend_server"), (3, "cut_peer"), (3, "mend_peer"), (2, "unplug"), (3, "replug"),
                        (2, "flap"), (2, "shape"), (3, "unshape"), (2, "kill_node"), (5, "restart_node"), (1, "kill_server"), (6, "restart_server"), (2, "pause")]
        while True:
            op = rng.choices([o for _, o in options], [w for w, _ in options])[0]
            step = {"i": i, "op": op}
            if op in ("insert", "update", "delete", "reinsert", "write_kill"):
                host = rng.choice(live)
                owned = docs[host]
                kind = op
                if op == "write_kill":
                    kind = rng.choice(["insert", "update"])
                    step["delay"] = round(rng.uniform(0.0, 0.12), 3)  # a put takes about 0.08 s here
                if kind == "insert":
                    counter[host] += 1
                    doc = f"n{host}d{counter[host]}"
                else:
                    want = "absent" if kind == "reinsert" else "present"
                    candidates = sorted(d for d, s in owned.items() if s == want)
                    if not candidates:
                        continue
                    doc = rng.choice(candidates)
                step.update(host=host, kind=kind, doc=doc, fields={} if kind == "delete" else fields_for(i, kind))
                if op == "write_kill":
                    owned[doc] = "unknown"
                    up.discard(host)
                else:
                    owned[doc] = "absent" if kind == "delete" else "present"
            elif op.startswith("shared_"):
                step.update(host=rng.choice(live), kind=op, doc=f"sh{rng.randrange(SHARED)}")
                step["fields"] = {} if op == "shared_delete" else fields_for(i, op)
            elif pg and (op == "cut_server" or op == "mend_server"):
                pairs = [(s, h) for s in instances for h in hosts if (frozenset((s, h)) in cut) == (op == "mend_server")]
                if not pairs:
                    continue
                server, host = rng.choice(pairs)
                step.update(server=server, host=host)
                (cut.add if op == "cut_server" else cut.discard)(frozenset((server, host)))
            elif op == "cut_server" or op == "mend_server":
                want = [h for h in hosts if (frozenset((1, h)) in cut) == (op == "mend_server")]
                if not want:
                    continue
                step["host"] = rng.choice(want)
                (cut.add if op == "cut_server" else cut.discard)(frozenset((1, step["host"])))
            elif op == "cut_peer" or op == "mend_peer":
                pairs = [(a, b) for a in hosts for b in hosts if a < b and (frozenset((a, b)) in cut) == (op == "mend_peer")]
                if not pairs:
                    continue
                step["pair"] = list(rng.choice(pairs))
                (cut.add if op == "cut_peer" else cut.discard)(frozenset(step["pair"]))
            elif op == "unplug" or op == "replug":
                want = [h for h in wire if (h in unplugged) == (op == "replug") and (op == "replug" or not pg or h in hosts or may_lose(h))]
                if not want:
                    continue
                step["host"] = rng.choice(want)
                (unplugged.add if op == "unplug" else unplugged.discard)(step["host"])
            elif op == "shape" or op == "unshape":
                # A narrow link (tbf): packets queue, so they are late, and overflow, so some are lost.
                want = [h for h in wire if (h in shaped) == (op == "unshape")]
                if not want:
                    continue
                step["host"] = rng.choice(want)
                if op == "shape":
                    step["rate"] = rng.choice(RATES)
                (shaped.add if op == "shape" else shaped.discard)(step["host"])
            elif op == "flap":
                # Loss, emulated: the link between a node and the server (or a peer) drops and comes
                # back several times in quick succession.
                other = rng.choice(wire)
                host = rng.choice([h for h in hosts if h != other])
                if frozenset((host, other)) in cut:
                    continue
                step.update(pair=[host, other], count=rng.randint(2, 6),
                            down=[round(rng.uniform(0.05, 0.6), 3) for _ in range(6)],
                            up=[round(rng.uniform(0.05, 0.4), 3) for _ in range(6)])
            elif op == "kill_node":
                if len(up) <= 1:
                    continue
                step["host"] = rng.choice(live)
                up.discard(step["host"])
            elif op == "restart_node":
                down = sorted(set(hosts) - up)
                if not down:
                    continue
                step.update(host=rng.choice(down), offset=rng.choice(SKEWS))
                up.add(step["host"])
            elif op == "kill_server":
                if not server_up:
                    continue
                server_up = False
            elif op == "restart_server":
                if server_up:
                    continue
                server_up = True
            elif op == "kill_instance":
                want = [s for s in instances if s in inst_up and may_lose(s)]
                if not want:
                    continue
                step.update(host=rng.choice(want), delay=round(rng.uniform(0.05, 0.4), 3), writes=burst(i, live))
                inst_up.discard(step["host"])
            elif op == "restart_instance":
                # Only one that reaches PostgreSQL: an instance that cannot within 10 s stops its start (by design).
                down = [s for s in instances if s not in inst_up and s not in unplugged and frozenset((1, s)) not in cut]
                if not down:
                    continue
                step["host"] = rng.choice(down)
                inst_up.add(step["host"])
            elif op == "restart_pg":
                step["mode"] = rng.choice(["fast", "immediate"])
                if step["mode"] == "immediate":
                    step["down"] = round(rng.uniform(0.2, 3.0), 2)
                step.update(delay=round(rng.uniform(0.05, 0.4), 3), writes=burst(i, live))
            elif op == "cut_pg" or op == "mend_pg":
                want = [s for s in instances if (frozenset((1, s)) in cut) == (op == "mend_pg") and (op == "mend_pg" or may_lose(s))]
                if not want:
                    continue
                step["host"] = rng.choice(want)
                (cut.add if op == "cut_pg" else cut.discard)(frozenset((1, step["host"])))
            elif op == "pause":
                step["seconds"] = round(rng.uniform(0.2, 1.5), 2)
            schedule.append(step)
            break
    return schedule


class Model:
    """What each document may end as, from the outcomes the harness saw (see the module comment)."""

    def __init__(self):
        self.states = {}  # doc -> list of possible states (None = absent)
        self.acked = {}  # owned doc -> acknowledged writes
        self.unknown = {}  # owned doc -> writes of unknown outcome
        self.written = {}  # shared doc -> field -> values written (acknowledged or unknown)
        self.shared_deletes = {}  # shared doc -> deletes attempted
        self.shared_acked = set()  # shared docs an acknowledged insert or update was made to

    def possible(self, doc):
        return self.states.get(doc, [None])

    def certain_present(self, doc):
        return all(s is not None for s in self.possible(doc))

    def certain_absent(self, doc):
        return all(s is None for s in self.possible(doc))

    def record(self, step, outcome):
        """outcome: ack (the command succeeded), unknown (it may or may not have committed), rejected."""
        doc, kind, fields = step["doc"], step["kind"], step["fields"]
        if kind.startswith("shared_"):
            if outcome == "rejected":
                return
            for name, value in fields.items():
                self.written.setdefault(doc, {}).setdefault(name, set()).add(value)
            if kind == "shared_delete":
                self.shared_deletes[doc] = self.shared_deletes.get(doc, 0) + 1
            elif outcome == "ack":
                self.shared_acked.add(doc)
            return
        before = self.possible(doc)
        after = [apply(kind, s, fields) for s in before]
        if outcome == "ack":
            self.states[doc] = dedupe(after)
            self.acked[doc] = self.acked.get(doc, 0) + 1
        elif outcome == "unknown":
            self.states[doc] = dedupe(before + after)
            self.unknown[doc] = self.unknown.get(doc, 0) + 1


def dedupe(states):
    out = []
    for s in states:
        if s not in out:
            out.append(s)
    return out
