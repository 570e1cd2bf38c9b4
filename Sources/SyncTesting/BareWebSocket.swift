import Foundation

/// A WebSocket client on a bare POSIX socket with a small receive buffer: it reads only when asked.
/// For tests that must control reading (a subscriber that never reads), or must see exactly what
/// the server sent before closing (swift-websocket's client can miss frames that follow the upgrade
/// response at once). Its calls block, so each runs on a thread of
/// its own, never on the Swift concurrency pool (whose few threads the in-process server needs).
///
/// `@unchecked Sendable`: its state is the socket's descriptor, which POSIX calls may use from
/// any thread, and the bytes read past what a call needed (behind a lock); a test uses one socket
/// from one task at a time.
package final class BareWebSocket: @unchecked Sendable {
    private let descriptor: Int32
    /// Read from the socket and not yet used: what followed the upgrade response or a marker.
    private let unread = NSLock()
    private nonisolated(unsafe) var unreadBytes: [UInt8] = []

    /// Connects and completes the WebSocket upgrade.
    package static func connect(port: Int, path: String = "/ws") async throws -> BareWebSocket {
        try await onOwnThread { try BareWebSocket(port: port, path: path) }
    }

    private init(port: Int, path: String) throws {
        descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw ChildProcessError(message: "socket() failed: \(errno)") }
        var small: Int32 = 4_096
        setsockopt(descriptor, SOL_SOCKET, SO_RCVBUF, &small, socklen_t(MemoryLayout<Int32>.size))
        var timeout = timeval(tv_sec: 20, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw ChildProcessError(message: "connect() failed: \(errno)") }
        try write(Array(("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n").utf8))
        _ = try readUntil("\r\n\r\n")
    }

    /// Subscribes (the original protocol) and waits for the confirmation.
    package func subscribe(to collection: String) async throws {
        try await Self.onOwnThread { try self.subscribeBlocking(to: collection) }
    }

    private func subscribeBlocking(to collection: String) throws {
        try write(Self.textFrame(#"{"type":"subscribe","collection":"\#(collection)"}"#))
        _ = try readUntil("subscribed")
    }

    /// Sends one text message (at most 64 KB) and reads nothing.
    package func send(text: String) async throws {
        try await Self.onOwnThread { try self.write(Self.textFrame(text)) }
    }

    /// A masked text frame, as a client must send it (a zero mask leaves the payload as it is).
    private static func textFrame(_ text: String) -> [UInt8] {
        frame(opcode: 0x1, payload: Array(text.utf8), fin: true)
    }

    /// A masked frame (zero mask) of at most 64 KB.
    private static func frame(opcode: UInt8, payload: [UInt8], fin: Bool) -> [UInt8] {
        precondition(payload.count < 65_536, "BareWebSocket sends frames of at most 64 KB")
        let length: [UInt8] = payload.count < 126 ? [0x80 | UInt8(payload.count)]
            : [0x80 | 126, UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)]
        return [(fin ? 0x80 : 0) | opcode] + length + [0, 0, 0, 0] + payload
    }

    private func write(_ bytes: [UInt8]) throws {
        guard bytes.withUnsafeBytes({ Glibc.send(descriptor, $0.baseAddress, $0.count, 0) }) == bytes.count else {
            throw ChildProcessError(message: "send() failed: \(errno)")
        }
    }

    /// Reads up to the end of `marker`; what was read after it stays for the next read.
    private func readUntil(_ marker: String) throws -> [UInt8] {
        var received = takeUnread()
        var buffer = [UInt8](repeating: 0, count: 1_024)
        while true {
            if let range = received.firstRange(of: Array(marker.utf8)) {
                keepUnread(Array(received[range.upperBound...]))
                return Array(received[..<range.upperBound])
            }
            let count = recv(descriptor, &buffer, buffer.count, 0)
            guard count > 0 else { throw ChildProcessError(message: "closed or timed out before \"\(marker)\"") }
            received += buffer[0..<count]
        }
    }

    private func takeUnread() -> [UInt8] {
        unread.withLock {
            defer { unreadBytes = [] }
            return unreadBytes
        }
    }

    private func keepUnread(_ bytes: [UInt8]) {
        unread.withLock { unreadBytes = bytes }
    }

    /// Sends one frame, masked as a client must (a zero mask), `fin` unset for a fragment other
    /// than the last. Control frames: `opcode` 0x8 close, 0x9 ping, 0xA pong; 0x0 continues a message.
    package func send(opcode: UInt8, payload: [UInt8], fin: Bool = true) async throws {
        let frame = Self.frame(opcode: opcode, payload: payload, fin: fin)
        try await Self.onOwnThread { try self.write(frame) }
    }

    /// The next frame the server sends: its opcode and payload (a server frame is unmasked).
    package func nextFrame() async throws -> (opcode: UInt8, payload: [UInt8]) {
        try await Self.onOwnThread { try self.nextFrameBlocking() }
    }

    private func nextFrameBlocking() throws -> (opcode: UInt8, payload: [UInt8]) {
        var received = takeUnread()
        var buffer = [UInt8](repeating: 0, count: 4_096)
        while true {
            if received.count >= 2 {
                var length = Int(received[1] & 0x7F)
                var start = 2
                if length == 126, received.count >= 4 {
                    length = Int(received[2]) << 8 | Int(received[3])
                    start = 4
                } else if length == 127, received.count >= 10 {
                    length = received[2..<10].reduce(0) { $0 << 8 | Int($1) }
                    start = 10
                }
                if length < 126 || start > 2, received.count >= start + length {
                    keepUnread(Array(received[(start + length)...]))
                    return (received[0] & 0x0F, Array(received[start..<(start + length)]))
                }
            }
            let count = recv(descriptor, &buffer, buffer.count, 0)
            guard count > 0 else { throw ChildProcessError(message: "closed or timed out before a whole frame") }
            received += buffer[0..<count]
        }
    }

    /// Reads until the server closes the connection; the bytes (frames undecoded). Throws on a
    /// timeout (20 s without data) or past `limit` bytes.
    package func readAllUntilClosed(limit: Int) async throws -> [UInt8] {
        try await Self.onOwnThread { try self.readAllBlocking(limit: limit) }
    }

    private func readAllBlocking(limit: Int) throws -> [UInt8] {
        var received = takeUnread()
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while received.count <= limit {
            let count = recv(descriptor, &buffer, buffer.count, 0)
            if count == 0 { return received }
            guard count > 0 else { throw ChildProcessError(message: "not closed: recv() failed with \(errno) after \(received.count) bytes") }
            received += buffer[0..<count]
        }
        throw ChildProcessError(message: "more than \(limit) bytes and still open")
    }

    /// Closes the sending half only (a FIN): the server sees the end of its input.
    package func closeSending() {
        shutdown(descriptor, Int32(SHUT_WR))
    }

    package func close() {
        Foundation.close(descriptor)
    }

    private static func onOwnThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            Thread { continuation.resume(with: Result { try body() }) }.start()
        }
    }
}
