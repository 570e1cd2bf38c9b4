# Sourced by scripts that run `synclayer` processes on loopback (profile-order, idle-memory):
# a work folder, the children's pids, cleanup on exit (only those pids), and waiting for a line.
# The caller sets `tool` (its name, for messages) before sourcing.

work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# Waits (at most 60 s) until FILE has a line starting with PREFIX and prints its last word (the
# URL in `listening on URL` and `control URL`).
await_line() {
    local file=$1 prefix=$2
    for _ in $(seq 600); do
        if grep -q "^$prefix" "$file" 2>/dev/null; then grep -m1 "^$prefix" "$file" | awk '{print $NF}'; return 0; fi
        sleep 0.1
    done
    echo "$tool: no '$prefix' line in $file: $(tail -3 "$file")" >&2
    return 1
}
