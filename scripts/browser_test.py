"""The browser half of scripts/browser-test: headless Chromium (Debian's, never a downloaded one),
driven by Playwright, on node 1's console. Every wait is Playwright's (on a selector or a condition
in the page), bounded by a timeout; nothing sleeps.

  python browser_test.py --console URL1 --console2 URL2 --node1 ID --node2 ID --node3 ID \
      --server-pid PID --shots DIR

1. node 1's console shows its two peers (nodes 2 and 3), both reaching the server, and its own
   server link connected; screenshot;
2. the server is stopped (SIGTERM to its pid); the console shows the link disconnected;
3. once node 2's console says it lost the server too, a document is written on node 2 through its
   control endpoint; it appears in node 1's list of changes with origin `peer <node 2's id>`, in
   the same page (no reload); screenshot.
"""
import argparse
import json
import os
import signal
import sys
import time
import urllib.request

from playwright.sync_api import sync_playwright

CHROMIUM = "/usr/bin/chromium"
# Loopback only: Chromium resolves no other host, and its background services stay off.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-domain-reliability",
    "--disable-sync",
    "--no-first-run",
    "--no-default-browser-check",
]
T0 = time.monotonic()


def log(message):
    print(f"[browser {time.monotonic() - T0:5.1f} s] {message}", flush=True)


def put(control, collection, record_id, document):
    request = urllib.request.Request(f"{control}/collections/{collection}/{record_id}", method="PUT",
                                     data=json.dumps(document).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def main():
    parser = argparse.ArgumentParser()
    for name in ("console", "console2", "node1", "node2", "node3", "shots"):
        parser.add_argument("--" + name, required=True)
    parser.add_argument("--server-pid", type=int, required=True)
    arguments = parser.parse_args()
    os.makedirs(arguments.shots, exist_ok=True)
    shots = []

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.set_default_timeout(30_000)
        errors = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(arguments.console + "/")
        # Survives only as long as the page is not reloaded.
        page.evaluate("window.consoleTestMarker = 'not reloaded'")

        # --- 1. two peers, the server link up --------------------------------------------------
        page.wait_for_selector(f"#node-id:text-is('{arguments.node1}')")
        page.wait_for_selector("#link-state[data-state='connected']")
        for peer in (arguments.node2, arguments.node3):
            page.wait_for_selector(f"#peer-rows .peer[data-node-id='{peer}']")
        page.wait_for_function("document.querySelectorAll('#peer-rows .peer').length === 2")
        page.wait_for_function("document.querySelectorAll('#mesh-graph .peer-node').length === 2")
        # Every node reaches the server: both peers say so (each tells its peers when its link is up).
        page.wait_for_function("document.querySelectorAll(\"#peer-rows .peer[data-uplink='true']\").length === 2")
        assert page.text_content("#link-state") == "connected"
        log(f"console of node 1 ({arguments.console}): link connected, peers {arguments.node2} and {arguments.node3}")
        shots.append(os.path.join(arguments.shots, "1-mesh-and-server-up.png"))
        page.screenshot(path=shots[-1], full_page=True)

        # --- 2. the server stopped --------------------------------------------------------------
        page2 = browser.new_page()
        page2.set_default_timeout(30_000)
        page2.goto(arguments.console2 + "/")
        page2.wait_for_selector("#link-state[data-state='connected']")
        os.kill(arguments.server_pid, signal.SIGTERM)
        log(f"server stopped (SIGTERM to pid {arguments.server_pid})")
        page.wait_for_selector("#link-state[data-state='disconnected']")
        log(f"node 1's console shows the link down ({page.text_content('#link-detail')})")
        # Both ends of the link 2 → 1 without the server: node 2 relays to node 1 whatever node 1 said last.
        page2.wait_for_selector("#link-state[data-state='disconnected']")
        page2.close()

        # --- 3. a change on node 2 reaches node 1's console, from peer node 2 -----------------------
        record = "from-node-2"
        put(arguments.console2, "todos", record, {"text": "written on node 2 while the server is away"})
        log(f"wrote todos/{record} on node 2")
        origin = f"peer {arguments.node2}"
        row = page.wait_for_selector(f"#change-list .change[data-record-id='{record}'][data-origin='{origin}']")
        assert row.get_attribute("data-source") == "peer"
        assert page.evaluate("window.consoleTestMarker") == "not reloaded", "the page was reloaded"
        page.wait_for_selector(f"#peer-rows .peer[data-node-id='{arguments.node2}']")
        page.wait_for_selector("#link-state[data-state='disconnected']")
        page.wait_for_selector("#collection-rows .collection[data-collection='todos'][data-count='1']")
        log(f"node 1's console lists todos/{record} with origin '{origin}', without a reload")
        shots.append(os.path.join(arguments.shots, "2-server-down-change-from-peer.png"))
        page.screenshot(path=shots[-1], full_page=True)
        browser.close()

    if errors:
        log("errors in the page: " + "; ".join(errors))
        return 1
    for shot in shots:
        print(f"screenshot: {os.path.abspath(shot)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
