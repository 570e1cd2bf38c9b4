#!/usr/bin/env python3
"""A backend of the original protocol, WebSocket only, as a user of the original SDK's migration
guide would write it with the `websockets` library (PyPI). Used by scripts/original-backend-test.

    original_backend.py --port 0 [--log FRAMES.jsonl]

Binds 127.0.0.1; prints `listening PORT` once it listens. One endpoint, /ws (any ?token= is
ignored); no REST routes. JSON text frames:
  subscribe / unsubscribe {collection}           register / drop the connection as a subscriber
  insert / update / delete {collection, recordId, data?, timestamp?, metadata?}
                                                 store (insert: whole document, update: merge the
                                                 fields, delete: remove), then broadcast to every
                                                 OTHER subscriber of the collection with the
                                                 server's time and metadata {version, userId}
  ping                                           answered with {"type": "pong"}
Anything else (e.g. `hello`) is ignored. --log appends each received insert/update/delete frame as
one JSON line. SIGTERM or SIGINT stop it.
"""

import argparse
import asyncio
import json
import signal
import sys
from datetime import datetime, timezone

try:  # websockets >= 13
    from websockets.asyncio.server import serve
except ImportError:  # older releases: the legacy server
    from websockets import serve
from websockets.exceptions import ConnectionClosed

CHANGES = ("insert", "update", "delete")


class Backend:
    def __init__(self, log_path):
        self.records = {}  # collection -> record id -> data
        self.subscribers = {}  # collection -> set of connections
        self.version = 0
        self.open = set()  # every open connection (for the log lines only)
        self.log = open(log_path, "a", encoding="utf-8") if log_path else None

    async def handler(self, ws, path=None):
        # The request path: ws.request.path (new server), ws.path (legacy), or the second argument
        # (legacy releases before 10.1).
        request = getattr(ws, "request", None)
        path = getattr(request, "path", None) or getattr(ws, "path", None) or path or ""
        if path.split("?", 1)[0] != "/ws":
            await ws.close(1008, "no such endpoint")
            return
        self.open.add(ws)
        print(f"connection opened ({len(self.open)} open)", file=sys.stderr, flush=True)
        try:
            async for message in ws:
                await self.receive(ws, message)
        except ConnectionClosed:
            pass
        finally:
            self.open.discard(ws)
            for subscribers in self.subscribers.values():
                subscribers.discard(ws)
            print(f"connection closed ({len(self.open)} open)", file=sys.stderr, flush=True)

    async def receive(self, ws, message):
        try:
            frame = json.loads(message)
        except (TypeError, ValueError):
            return
        if not isinstance(frame, dict):
            return
        kind = frame.get("type")
        collection = frame.get("collection")
        if kind == "ping":
            await ws.send(json.dumps({"type": "pong"}))
        elif kind == "subscribe" and isinstance(collection, str):
            self.subscribers.setdefault(collection, set()).add(ws)
        elif kind == "unsubscribe" and isinstance(collection, str):
            self.subscribers.get(collection, set()).discard(ws)
        elif kind in CHANGES and isinstance(collection, str) and isinstance(frame.get("recordId"), str):
            await self.change(ws, kind, collection, frame)
        # anything else: ignored

    async def change(self, sender, kind, collection, frame):
        if self.log:
            self.log.write(json.dumps(frame, separators=(",", ":")) + "\n")
            self.log.flush()
        record_id = frame["recordId"]
        data = frame.get("data") if isinstance(frame.get("data"), dict) else {}
        records = self.records.setdefault(collection, {})
        if kind == "insert":
            records[record_id] = dict(data)
        elif kind == "update":
            records.setdefault(record_id, {}).update(data)
        else:
            records.pop(record_id, None)
        self.version += 1
        now = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        out = {"type": kind, "collection": collection, "recordId": record_id}
        if kind != "delete":
            out["data"] = data
        out["timestamp"] = now
        out["metadata"] = {"version": self.version, "userId": "user"}
        text = json.dumps(out)
        for ws in list(self.subscribers.get(collection, ())):
            if ws is sender:
                continue
            try:
                await ws.send(text)
            except ConnectionClosed:
                self.subscribers[collection].discard(ws)


async def main():
    parser = argparse.ArgumentParser(description="A WebSocket-only backend of the original protocol.")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0 picks a free one)")
    parser.add_argument("--log", help="append each received insert/update/delete frame to this file (JSON lines)")
    args = parser.parse_args()

    backend = Backend(args.log)
    stop = asyncio.get_running_loop().create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, lambda: stop.done() or stop.set_result(None))

    async with serve(backend.handler, "127.0.0.1", args.port) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        print(f"listening {port}", flush=True)
        await stop
    print("stopped", file=sys.stderr, flush=True)


if __name__ == "__main__":
    asyncio.run(main())
