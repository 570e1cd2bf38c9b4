"""A node's console, reachable from the machine running the demo: a TCP forwarder from a loopback port
of the root network namespace to the node's control endpoint, which listens on 127.0.0.1 inside the
node's own namespace (a host of scripts/netns-hosts). Python 3 stdlib only.

  python3 demo/console_forward.py --host I --control-port 7000

1. In the namespace it is started in (the root one), it listens on 127.0.0.1, on a port the kernel
   picks, and prints `console host I http://127.0.0.1:PORT/`.
2. It then execs itself through `scripts/netns-hosts exec I` (nsenter, in place: the pid stays the
   same, so the caller stops it by the pid it started) with the listening socket's descriptor
   inherited: a socket keeps the namespace it was created in, so it still accepts connections on the
   root namespace's loopback, while every connection this process makes now is inside host I.
3. Each accepted connection is joined to 127.0.0.1:CONTROL_PORT in host I, bytes copied both ways
   as they come (the console's /events is a long-lived server-sent event stream: nothing is held
   back), each direction closed when the other side closes it. At most --max-connections at once;
   the ones past that are closed at once.

It runs until it is signalled (SIGTERM, by pid).
"""
import argparse
import os
import socket
import sys
import threading

NETNS_HOSTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts", "netns-hosts")


def pipe(source, target):
    """Copies source to target until source ends, then ends target's sending side."""
    try:
        while True:
            data = source.recv(65536)
            if not data:
                break
            target.sendall(data)
    except OSError:
        pass
    finally:
        try:
            target.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def join(client, port, slots):
    try:
        try:
            upstream = socket.create_connection(("127.0.0.1", port), timeout=5)
        except OSError as error:
            print(f"console_forward: cannot reach 127.0.0.1:{port}: {error}", file=sys.stderr, flush=True)
            return
        upstream.settimeout(None)
        back = threading.Thread(target=pipe, args=(upstream, client), daemon=True)
        back.start()
        pipe(client, upstream)
        back.join()
        upstream.close()
    finally:
        client.close()
        slots.release()


def serve(fd, port, max_connections):
    listener = socket.socket(fileno=fd)
    slots = threading.BoundedSemaphore(max_connections)
    while True:
        client, _ = listener.accept()
        if not slots.acquire(blocking=False):
            client.close()
            continue
        threading.Thread(target=join, args=(client, port, slots), daemon=True).start()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", type=int, required=True, help="the scripts/netns-hosts host of the node")
    parser.add_argument("--control-port", type=int, required=True, help="the node's control port inside its host")
    parser.add_argument("--max-connections", type=int, default=32)
    parser.add_argument("--fd", type=int, help="(internal) the inherited listening socket, once inside the host")
    arguments = parser.parse_args()
    if arguments.fd is not None:
        serve(arguments.fd, arguments.control_port, arguments.max_connections)
        return

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.set_inheritable(True)
    print(f"console host {arguments.host} http://127.0.0.1:{listener.getsockname()[1]}/", flush=True)
    os.execv(NETNS_HOSTS, [NETNS_HOSTS, "exec", str(arguments.host), sys.executable, os.path.abspath(__file__),
                           "--host", str(arguments.host), "--control-port", str(arguments.control_port),
                           "--max-connections", str(arguments.max_connections), "--fd", str(listener.fileno())])


if __name__ == "__main__":
    main()
