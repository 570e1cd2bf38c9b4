"""The demo's picture: headless Chromium (Debian's /usr/bin/chromium, never a downloaded one), driven by
Playwright, keeps one node's console open for the whole demo, so that its list of changes fills live,
and once the demo says the mesh has converged, waits for the console to show it and saves a picture.

  python console_picture.py --console URL --node-id ID --ready FILE --trigger FILE --out PNG [--timeout S]

1. opens URL (the node's console, through demo/console_forward.py), waits for the node id, the
   server link connected and two peers, then writes FILE given as --ready;
2. waits (at most --timeout seconds) for the --trigger file, which holds {"count": N, "digest": D}:
   what every node and the server hold at the end;
3. waits for the console to show the link connected, two peers, the outbox empty and `todos` with
   count N and digest D, all in the same page (no reload), then saves a full-page picture to --out
   and prints what the list of changes holds, by origin.
Every wait is bounded (Playwright's timeouts and --timeout); the page may reach no host but 127.0.0.1.
"""
import argparse
import collections
import json
import os
import sys
import time

from playwright.sync_api import sync_playwright

# How scripts/browser-test launches Chromium (Debian's binary; loopback only, background services off).
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
from browser_test import CHROMIUM, CHROMIUM_ARGS  # noqa: E402


def log(message):
    print(f"[browser] {message}", flush=True)


def main():
    parser = argparse.ArgumentParser()
    for name in ("console", "node-id", "ready", "trigger", "out"):
        parser.add_argument("--" + name, required=True)
    parser.add_argument("--timeout", type=float, default=600)
    arguments = parser.parse_args()

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.set_default_timeout(30_000)
        errors = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(arguments.console)
        page.evaluate("window.demoMarker = 'not reloaded'")
        page.wait_for_selector(f"#node-id:text-is('{arguments.node_id}')")
        page.wait_for_selector("#link-state[data-state='connected']")
        page.wait_for_function("document.querySelectorAll('#peer-rows .peer').length === 2")
        log(f"watching {arguments.console} (node {arguments.node_id}): link connected, 2 peers")
        with open(arguments.ready, "w") as ready:
            ready.write("ready\n")

        deadline = time.monotonic() + arguments.timeout
        while not os.path.exists(arguments.trigger):
            if time.monotonic() > deadline:
                log(f"no {arguments.trigger} within {arguments.timeout:.0f} s")
                return 1
            page.wait_for_timeout(200)
        with open(arguments.trigger) as trigger:
            end = json.load(trigger)

        page.wait_for_selector("#link-state[data-state='connected']")
        page.wait_for_function("document.querySelectorAll('#peer-rows .peer').length === 2")
        page.wait_for_selector("#outbox[data-count='0']")
        page.wait_for_selector(f"#collection-rows .collection[data-collection='todos'][data-count='{end['count']}']"
                               f"[data-digest='{end['digest']}']")
        if page.evaluate("window.demoMarker") != "not reloaded":
            log("the page was reloaded")
            return 1
        origins = page.eval_on_selector_all("#change-list .change", "items => items.map(item => item.dataset.origin)")
        counted = collections.Counter(origin if origin in ("local", "server") else "peer " + origin.split()[-1][:8] + "…"
                                      for origin in origins)
        log("the console shows the link connected, 2 peers, outbox 0, todos " +
            f"{end['count']} documents with digest {end['digest'][:16]}, the server's; its live list of changes holds " +
            ", ".join(f"{n} from {origin}" for origin, n in sorted(counted.items())))
        os.makedirs(os.path.dirname(os.path.abspath(arguments.out)), exist_ok=True)
        page.screenshot(path=arguments.out, full_page=True)
        browser.close()

    if errors:
        log("errors in the page: " + "; ".join(errors))
        return 1
    print(f"picture: {os.path.abspath(arguments.out)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
