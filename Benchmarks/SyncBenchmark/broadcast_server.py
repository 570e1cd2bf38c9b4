"""The fan-out baseline: a broadcast server written with Python `websockets`, as a typical one is.

Speaks the minimal original protocol: `subscribe` -> `subscribed`; `insert`/`update`/`delete` ->
relayed as received to every other subscriber of that collection. Nothing is stored.
Prints the port it listens on (127.0.0.1, port 0 = any free one), then serves until killed.
"""
import asyncio
import json
import sys

from websockets.asyncio.server import broadcast, serve

subscribers: dict[str, set] = {}


async def handler(websocket):
    subscribed = set()
    try:
        async for message in websocket:
            frame = json.loads(message)
            kind, collection = frame.get("type"), frame.get("collection")
            if kind == "subscribe":
                subscribers.setdefault(collection, set()).add(websocket)
                subscribed.add(collection)
                await websocket.send(json.dumps({"type": "subscribed", "collection": collection}, separators=(",", ":")))
            elif kind in ("insert", "update", "delete"):
                broadcast([peer for peer in subscribers.get(collection, ()) if peer is not websocket], message)
    finally:
        for collection in subscribed:
            subscribers[collection].discard(websocket)


async def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    async with serve(handler, "127.0.0.1", port, compression=None, max_size=1 << 20) as server:
        print(server.sockets[0].getsockname()[1], flush=True)
        await server.serve_forever()


asyncio.run(main())
