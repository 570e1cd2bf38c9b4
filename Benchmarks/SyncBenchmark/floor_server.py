"""The fan-out benchmark's floor: a server that does nothing per delivery but the send.

One thread, one epoll loop, non-blocking sockets, the standard library only. It speaks what the
benchmark's clients need (the WebSocket handshake, `subscribe` -> `subscribed`, ping, close) and
relays each `insert`/`update`/`delete` message, as received, to every other subscriber of its
collection. A relayed frame is framed once; each subscriber is sent everything queued for it in
one `send` per pass of the loop (after every readable socket was read), so a burst goes out many
frames to a call and a single write costs one call per subscriber, the least any server can do.
Nothing is stored, signed or checked.

Its kernel time is the figure that matters: what the sends cost, the receivers' TCP work and
wake-ups included (on loopback the kernel does them in the sender's call). Its user time is
Python's loop, an upper bound on what a compiled loop doing the same would spend.

Prints the port it listens on (127.0.0.1, port 0 = any free one), then serves until killed.
"""
import base64
import hashlib
import json
import select
import socket
import sys

ACCEPT_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
TEXT, CLOSE, PING, PONG = 0x1, 0x8, 0x9, 0xA


def frame(opcode, payload):
    """A complete server frame (unmasked, final)."""
    length = len(payload)
    if length < 126:
        header = bytes((0x80 | opcode, length))
    elif length < 1 << 16:
        header = bytes((0x80 | opcode, 126)) + length.to_bytes(2, "big")
    else:
        header = bytes((0x80 | opcode, 127)) + length.to_bytes(8, "big")
    return header + payload


def unmask(payload, key):
    length = len(payload)
    mask = (key * (length // 4 + 1))[:length]
    return (int.from_bytes(payload, "little") ^ int.from_bytes(mask, "little")).to_bytes(length, "little")


class Connection:
    __slots__ = ("sock", "fd", "inbound", "queued", "unsent", "upgraded", "collections", "closing")

    def __init__(self, sock):
        self.sock = sock
        self.fd = sock.fileno()
        self.inbound = b""
        self.queued = []  # frames for the next send
        self.unsent = b""  # what the socket did not take yet
        self.upgraded = False
        self.collections = set()
        self.closing = False


class FloorServer:
    def __init__(self, port):
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", port))
        self.listener.listen(4096)
        self.listener.setblocking(False)
        self.epoll = select.epoll()
        self.epoll.register(self.listener.fileno(), select.EPOLLIN)
        self.connections = {}
        self.subscribers = {}  # collection -> {fd: Connection}, in subscription order
        self.dirty = {}  # fd -> Connection with frames queued this pass

    def serve(self):
        listening = self.listener.fileno()
        while True:
            for fd, events in self.epoll.poll():
                if fd == listening:
                    self.accept()
                    continue
                connection = self.connections.get(fd)
                if connection is None:
                    continue
                if events & select.EPOLLOUT:
                    self.send_unsent(connection)
                if events & (select.EPOLLIN | select.EPOLLHUP | select.EPOLLERR):
                    self.read(connection)
            dirty, self.dirty = self.dirty, {}
            for connection in dirty.values():
                self.flush(connection)

    def accept(self):
        while True:
            try:
                sock, _ = self.listener.accept()
            except BlockingIOError:
                return
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            connection = Connection(sock)
            self.connections[connection.fd] = connection
            self.epoll.register(connection.fd, select.EPOLLIN)

    def read(self, connection):
        try:
            data = connection.sock.recv(1 << 18)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self.drop(connection)
            return
        connection.inbound += data
        if not connection.upgraded:
            end = connection.inbound.find(b"\r\n\r\n")
            if end < 0:
                return
            self.upgrade(connection, connection.inbound[:end])
            connection.inbound = connection.inbound[end + 4:]
        self.read_frames(connection)

    def upgrade(self, connection, request):
        key = b""
        for line in request.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"sec-websocket-key":
                key = value.strip()
        accept = base64.b64encode(hashlib.sha1(key + ACCEPT_GUID).digest())
        self.queue(connection, b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n")
        connection.upgraded = True

    def read_frames(self, connection):
        data, offset = connection.inbound, 0
        while len(data) - offset >= 2:
            opcode, length = data[offset] & 0x0F, data[offset + 1] & 0x7F
            start = offset + 2
            if length == 126:
                length, start = int.from_bytes(data[start:start + 2], "big"), start + 2
            elif length == 127:
                length, start = int.from_bytes(data[start:start + 8], "big"), start + 8
            if data[offset + 1] & 0x80:
                key, start = data[start:start + 4], start + 4
            else:
                key = None
            if len(data) < start + length:
                break
            payload = data[start:start + length]
            offset = start + length
            if key is not None:
                payload = unmask(payload, key)
            if opcode == TEXT:
                self.message(connection, payload)
            elif opcode == PING:
                self.queue(connection, frame(PONG, payload))
            elif opcode == CLOSE:
                self.drop(connection)
                return
        connection.inbound = data[offset:]

    def message(self, connection, payload):
        message = json.loads(payload)
        kind, collection = message.get("type"), message.get("collection")
        if kind == "subscribe":
            self.subscribers.setdefault(collection, {})[connection.fd] = connection
            connection.collections.add(collection)
            reply = json.dumps({"type": "subscribed", "collection": collection}, separators=(",", ":")).encode()
            self.queue(connection, frame(TEXT, reply))
        elif kind in ("insert", "update", "delete"):
            relayed = frame(TEXT, payload)
            for peer in self.subscribers.get(collection, {}).values():
                if peer is not connection:
                    self.queue(peer, relayed)

    def queue(self, connection, data):
        connection.queued.append(data)
        self.dirty[connection.fd] = connection

    def flush(self, connection):
        if connection.closing or not connection.queued:
            return
        queued = connection.queued
        data = queued[0] if len(queued) == 1 else b"".join(queued)
        connection.queued = []
        if connection.unsent:
            connection.unsent += data  # the socket is full: EPOLLOUT sends it, in order
            return
        self.send(connection, data)

    def send_unsent(self, connection):
        data, connection.unsent = connection.unsent, b""
        if data:
            self.send(connection, data)
        if not connection.unsent and not connection.closing:
            self.epoll.modify(connection.fd, select.EPOLLIN)

    def send(self, connection, data):
        try:
            sent = connection.sock.send(data)
        except BlockingIOError:
            sent = 0
        except OSError:
            self.drop(connection)
            return
        if sent < len(data):
            connection.unsent = data[sent:]
            self.epoll.modify(connection.fd, select.EPOLLIN | select.EPOLLOUT)

    def drop(self, connection):
        if connection.closing:
            return
        connection.closing = True
        for collection in connection.collections:
            self.subscribers.get(collection, {}).pop(connection.fd, None)
        self.connections.pop(connection.fd, None)
        self.dirty.pop(connection.fd, None)
        self.epoll.unregister(connection.fd)
        connection.sock.close()


def main():
    server = FloorServer(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
    print(server.listener.getsockname()[1], flush=True)
    server.serve()


main()
