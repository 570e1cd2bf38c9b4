# Sourced by scripts/netns-mesh-test (the CI test) and demo/run (the demo): one scenario on a virtual
# LAN of scripts/netns-hosts, in steps that each wait for what they must bring about and fail if it
# does not come (bounded waits, log tails on failure). The caller has `cd`'d to the repository,
# runs as root with `set -euo pipefail` and `shopt -s inherit_errexit`, and may set NETNS_PREFIX.
#
# Host 1 runs the server on 10.77.0.11:8080; hosts 2, 3, 4 run nodes with --mesh, one team, a team
# secret, Avahi discovery and no --peer: they must find each other by mDNS alone. The steps:
#  start_mesh       all nodes connected to the server, each with 2 mesh peers;
#  unplug_server    `link 1 down`: every node must notice (link != connected, mesh.uplink false);
#  write_round K    one insert on each node (the callers run 10 rounds, the demo shows each);
#  converge_offline an update of host 2's doc from host 3, a delete of host 3's doc from host 4: all
#                   three nodes must converge over the mesh alone (equal count and digest);
#  gateway          hosts 3 and 4 are cut from the server (`netns-hosts cut`, both directions, silent),
#                   then `link 1 up`, so only host 2 reaches it. The server must receive every change
#                   so far through host 2; new inserts on hosts 3 and 4 must reach the server, and a
#                   write made on the server itself (REST, from host 1) must reach hosts 3 and 4,
#                   while hosts 3 and 4 are still not connected;
#  reunite          the cut is lifted: all nodes connected, outbox 0, equal digests, equal to the
#                   server's; the server's change log is read (TOTAL, UNIQUE, DUPES);
#  summary          a table of every node and the server; the change log must hold each change id
#                   exactly once and as many changes as the scenario wrote.
#
# Record ids are alphanumeric only: `put --node` percent-encodes every other character of the id
# ("-" becomes "%2D") and the node's control endpoint stores it still encoded (a product bug).

export PATH="$PATH:/usr/sbin:/sbin"
export NETNS_PREFIX="${NETNS_PREFIX:-slmesh}"
BIN="$(realpath -e "${SYNCLAYER_BIN:-.build/debug/synclayer}")" || { echo "no synclayer binary; build first or set SYNCLAYER_BIN" >&2; exit 2; }
H=scripts/netns-hosts
NODES="2 3 4"
SERVER=http://10.77.0.11:8080
CONTROL_PORT=7000
CONTROL=http://127.0.0.1:$CONTROL_PORT # each node's control endpoint, on lo inside its own host
WORK="$(mktemp -d "/tmp/${WORK_NAME:-$(basename "$0")}.XXXXXX")"
T0=$SECONDS
WRITES=0 # every change the scenario makes; the server must end with exactly this many
DOCS=0   # the documents it leaves
PIDS=()     # processes that must stay alive while the scenario runs (a dead one fails the wait)
AUX_PIDS=() # processes only stopped at the end
LAN_UP=0
declare -A ST # host -> its node's last status JSON

# Running and not a zombie (our spawned processes are not our children: pid 1 reaps them, late).
alive() { [[ "$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)" =~ ^[^Z]$ ]]; }
log() { printf '[%3d s] %s\n' $((SECONDS - T0)) "$*"; }

[[ "$(id -u)" == 0 ]] || { echo "must run as root" >&2; exit 2; }
if ! command -v jq >/dev/null || ! command -v curl >/dev/null; then
    scripts/install-deps >&2
fi

# Stop what we started, by pid (TERM, up to 5 s, then KILL), then the LAN, which we only tear down
# if this run built it (the prefix may be someone else's LAN otherwise).
cleanup() {
    local rc=$? p k all=("${PIDS[@]}" "${AUX_PIDS[@]}")
    trap - EXIT
    ((${#all[@]} == 0)) || kill -TERM "${all[@]}" 2>/dev/null || true
    for ((k = 0; k < 50; k++)); do
        for p in "${all[@]}"; do alive "$p" && break; p=""; done
        [[ -z "${p:-}" ]] && break
        sleep 0.1
    done
    ((${#all[@]} == 0)) || kill -KILL "${all[@]}" 2>/dev/null || true
    if ((LAN_UP)); then "$H" down >/dev/null || true; fi
    if ((rc == 0)) && [[ "${KEEP:-0}" != 1 ]]; then rm -rf "$WORK"; else echo "work dir (logs, databases): $WORK"; fi
    echo "total time: $((SECONDS - T0)) s"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

fail() {
    local i
    echo "FAIL: $*"
    for i in $NODES; do echo "--- host $i status: ${ST[$i]:-none}"; done
    for i in $NODES; do echo "--- host $i node log (tail)"; tail -n 25 "$WORK/node$i.log" 2>/dev/null || true; done
    echo "--- host 1 server log (tail)"; tail -n 15 "$WORK/server.log" 2>/dev/null || true
    exit 1
}

# --- helpers: node control, server REST, snapshots -----------------------------------------------

node_status() { "$H" exec "$1" "$BIN" status --node "$CONTROL" --json 2>/dev/null || echo '{}'; }
put() { # HOST ID JSON: insert (or replace) a document on the node of HOST
    "$H" exec "$1" "$BIN" put --node "$CONTROL" todos "$3" --id "$2" >/dev/null || fail "put $2 on host $1"
    WRITES=$((WRITES + 1))
}
# REST on the server, run inside host 1 so it works whichever node hosts are cut off.
srv() { "$H" exec 1 curl -sS --max-time 5 -H 'content-type: application/json' "$@"; }
srv_digest() { srv "$SERVER/sync/_digest?collection=todos" 2>/dev/null || echo '{}'; }
# Every change in the server's log, as one JSON array, by cursor (pages of 5000, at most 20).
srv_changes() {
    local cursor=0 owner="" page all='[]' k
    for ((k = 0; k < 20; k++)); do
        page="$(srv -X POST "$SERVER/sync/_pull" -d "{\"cursor\":$cursor,\"cursorFor\":\"$owner\",\"collections\":[\"todos\"],\"limit\":5000}")"
        all="$(jq -c --argjson p "$page" '. + $p.changes' <<<"$all")"
        cursor="$(jq .cursor <<<"$page")" owner="$(jq -r .serverId <<<"$page")"
        [[ "$(jq .more <<<"$page")" == true ]] || { echo "$all"; return 0; }
    done
    fail "server pull did not end within 20 pages"
}

snap() { local i; for i in $NODES; do ST[$i]="$(node_status "$i")"; done; }
is() { jq -e "$2" >/dev/null <<<"${ST[$1]}"; } # is HOST JQ-CONDITION (on its last snapshot)
all() { local i; for i in $NODES; do is "$i" "$1" || return 1; done; }
digests() { local i; for i in $NODES; do jq -r .collections.todos.digest <<<"${ST[$i]}"; done | sort -u; }
converged() { [[ "$(digests | wc -l)" == 1 ]] && all ".collections.todos.count == $1"; }
holdings() { local i; for i in $NODES; do printf 'host %s holds %2s, ' "$i" "$(jq .collections.todos.count <<<"${ST[$i]}")"; done | sed 's/, $//'; }

# Bounded wait: snapshots every 0.2 s until CMD succeeds or TIMEOUT seconds pass; a dead process fails.
wait_until() { # DESC TIMEOUT CMD...
    local desc="$1" timeout="$2" start k p
    shift 2
    start=$(date +%s%N)
    for ((k = 0; k < timeout * 5; k++)); do
        for p in "${PIDS[@]}"; do alive "$p" || fail "process $p exited (while waiting for: $desc)"; done
        snap
        if "$@"; then log "ok: $desc ($(((($(date +%s%N) - start) / 1000000))) ms)"; return 0; fi
        (($(date +%s%N) - start < timeout * 1000000000)) || break
        sleep 0.2
    done
    fail "not within $timeout s: $desc"
}

# --- the steps -----------------------------------------------------------------------------------

# The LAN (4 hosts) and the team's secret: peer links are sealed with it (Docs/Security.md).
lan_up() {
    log "binary $BIN, prefix $NETNS_PREFIX, work dir $WORK"
    "$H" up 4 >"$WORK/up.log" 2>&1 || { cat "$WORK/up.log"; echo "(a stale LAN? NETNS_PREFIX=$NETNS_PREFIX $H down)"; exit 1; }
    LAN_UP=1
    log "LAN up: host 1 server, hosts 2-4 nodes"
    head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$WORK/team.secret"
    SECRET_ARGS=(--team-secret-file "$WORK/team.secret")
}

start_mesh() {
    local i
    PIDS+=("$("$H" spawn 1 "$WORK/server.log" "$BIN" server --host 10.77.0.11 --port 8080 --data "$WORK/server.sqlite")")
    for i in $NODES; do
        PIDS+=("$("$H" spawn "$i" "$WORK/node$i.log" "$BIN" node --data "$WORK/node$i.sqlite" --server "$SERVER" \
            --collections todos --control "$CONTROL_PORT" --mesh --team meshtest "${SECRET_ARGS[@]}" --mesh-host 0.0.0.0 --mesh-port 7100 \
            --ping-interval 1 --sync-interval 1 --reconnect-delay 0.5 --heartbeat 0.5)")
    done
    wait_until "every node connected to the server, with 2 mesh peers" 30 \
        all '.link == "connected" and .mesh.uplink and .mesh.discovery == "running" and (.mesh.peers | length) == 2'
}

unplug_server() {
    "$H" link 1 down
    log "link 1 down (server unplugged)"
    wait_until "every node lost the server (link not connected, mesh.uplink false)" 20 \
        all '.link != "connected" and (.mesh.uplink | not) and (.mesh.peers | length) == 2'
}

write_round() { # K (two digits): one insert on each node
    local i
    for i in $NODES; do put "$i" "h${i}n$1" "{\"text\":\"host $i #$1\",\"done\":false}"; done
    DOCS=$((DOCS + 3))
}

converge_offline() {
    "$H" exec 3 "$BIN" put --node "$CONTROL" todos '{"done":true}' --id h2n01 --merge >/dev/null || fail "update on host 3"
    "$H" exec 4 "$BIN" delete --node "$CONTROL" todos h3n02 >/dev/null || fail "delete on host 4"
    WRITES=$((WRITES + 2)) DOCS=$((DOCS - 1))
    log "wrote $WRITES changes while the server is away (an update of host 2's document on host 3, a delete of host 3's on host 4)"
    wait_until "the mesh spread every change: $DOCS docs, one digest on all nodes" 20 \
        eval 'converged $DOCS && all ".link != \"connected\""'
    is 2 '.outbox > 0' || fail "host 2's outbox is empty although the server is away"
}

gateway_up() {
    is 2 '.link == "connected" and .mesh.uplink' &&
        is 3 '.link != "connected" and (.mesh.uplink | not) and any(.mesh.peers[]; .address == "10.77.0.12" and .uplink)' &&
        is 4 '.link != "connected" and (.mesh.uplink | not) and any(.mesh.peers[]; .address == "10.77.0.12" and .uplink)'
}
server_and_cut_nodes_agree() {
    local d
    d="$(srv_digest)"
    [[ "$(jq .changes <<<"$d")" == "$WRITES" && "$(jq .count <<<"$d")" == "$DOCS" ]] &&
        converged "$DOCS" && [[ "$(digests)" == "$(jq -r .digest <<<"$d")" ]] && gateway_up
}
gateway() {
    local i k
    "$H" cut 3 1
    "$H" cut 4 1
    "$H" link 1 up
    log "link 1 up; hosts 3 and 4 silently cut from the server, host 2 is the only way there"
    wait_until "host 2 is the gateway (connected, seen by hosts 3 and 4 as uplink)" 20 gateway_up
    # Everything written so far reached the server through host 2, including hosts 3's and 4's changes.
    wait_until "the server holds all $WRITES changes so far" 20 eval '[[ "$(srv_digest | jq .changes)" == "$WRITES" ]]'
    for i in 3 4; do
        for k in 1 2 3 4 5; do put "$i" "gwh${i}n$k" "{\"text\":\"via the gateway, host $i #$k\"}"; done
    done
    # A write on the server itself, by the original protocol's REST route: the server stamps the change.
    srv -X POST "$SERVER/sync/todos" -d '{"recordId":"srv1","data":{"text":"written on the server"},"timestamp":"2026-01-01T00:00:00.000Z"}' >/dev/null ||
        fail "REST write on the server"
    WRITES=$((WRITES + 1)) DOCS=$((DOCS + 11))
    log "hosts 3 and 4 wrote 5 documents each, the server one (REST)"
    wait_until "hosts 3/4 writes on the server, the server's write on hosts 3/4, all via host 2" 20 server_and_cut_nodes_agree
    srv_changes >"$WORK/changes-gateway.json"
    jq -e '[.[].recordId | select(startswith("gwh"))] | length == 10' "$WORK/changes-gateway.json" >/dev/null ||
        fail "the server lacks some of hosts 3/4's gateway writes"
    for i in 3 4; do
        "$H" exec "$i" "$BIN" get --node "$CONTROL" todos srv1 >/dev/null || fail "host $i lacks the server's document srv1"
    done
    log "gateway: outbox on hosts 3/4 while cut: $(jq .outbox <<<"${ST[3]}")/$(jq .outbox <<<"${ST[4]}") (not required to be 0)"
}

reunite() {
    "$H" mend 3 1
    "$H" mend 4 1
    log "cut lifted: every node reaches the server"
    wait_until "all connected, outbox 0, 2 peers each, one digest, equal to the server's" 30 \
        eval 'all ".link == \"connected\" and .outbox == 0 and .mesh.uplink and (.mesh.peers | length) == 2" &&
              converged $DOCS && [[ "$(digests)" == "$(srv_digest | jq -r .digest)" ]]'
    srv_changes >"$WORK/changes-final.json"
    TOTAL="$(jq length "$WORK/changes-final.json")"
    UNIQUE="$(jq '[.[].metadata.changeId] | unique | length' "$WORK/changes-final.json")"
    DUPES="$(jq -c '[group_by(.metadata.changeId)[] | select(length > 1) | .[0].metadata.changeId]' "$WORK/changes-final.json")"
}

summary() {
    local i sd
    sd="$(srv_digest)"
    printf '\n%-5s %-34s %-10s %-6s %-5s %s\n' host "node id" link outbox count digest
    for i in $NODES; do
        jq -r --arg h "$i" '[$h, .nodeId, .link, .outbox, .collections.todos.count, .collections.todos.digest[0:16]] | @tsv' <<<"${ST[$i]}" |
            awk -F'\t' '{printf "%-5s %-34s %-10s %-6s %-5s %s\n", $1, $2, $3, $4, $5, $6}'
    done
    jq -r '["1", .serverId, "server", "-", .count, .digest[0:16]] | @tsv' <<<"$sd" |
        awk -F'\t' '{printf "%-5s %-34s %-10s %-6s %-5s %s\n", $1, $2, $3, $4, $5, $6}'
    echo "server change log: $TOTAL changes, $UNIQUE distinct ids, the scenario wrote $WRITES"
    [[ "$TOTAL" == "$WRITES" && "$UNIQUE" == "$WRITES" ]] || fail "server change log: $TOTAL changes, $UNIQUE distinct, duplicated: $DUPES; expected $WRITES"
}
