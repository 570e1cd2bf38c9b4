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
"""
import random

WRITE_OPS = ("insert", "update", "delete", "reinsert", "shared_put", "shared_update", "shared_delete", "write_kill")
FAULT_OPS = ("cut_server", "mend_server", "cut_peer", "mend_peer", "unplug", "replug", "flap", "shape", "unshape", "kill_node",
             "restart_node", "kill_server", "restart_server", "pause")
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


def plan(seed, steps, hosts):
    """The schedule: a list of steps (dicts), drawn from the seed; see the module comment."""
    rng = random.Random(seed)
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

    for i in range(steps):
        live = sorted(up)
        options = []  # (weight, op)
        if live:
            options += [(14, "insert"), (8, "update"), (4, "delete"), (3, "reinsert"), (5, "shared_put"), (3, "shared_update"),
                        (2, "shared_delete"), (2, "write_kill")]
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
                want = [h for h in [1, *hosts] if (h in unplugged) == (op == "replug")]
                if not want:
                    continue
                step["host"] = rng.choice(want)
                (unplugged.add if op == "unplug" else unplugged.discard)(step["host"])
            elif op == "shape" or op == "unshape":
                # A narrow link (tbf): packets queue, so they are late, and overflow, so some are lost.
                want = [h for h in [1, *hosts] if (h in shaped) == (op == "unshape")]
                if not want:
                    continue
                step["host"] = rng.choice(want)
                if op == "shape":
                    step["rate"] = rng.choice(RATES)
                (shaped.add if op == "shape" else shaped.discard)(step["host"])
            elif op == "flap":
                # Loss, emulated: the link between a node and the server (or a peer) drops and comes
                # back several times in quick succession.
                other = rng.choice([1, *hosts])
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
