import BenchmarkSupport
import Foundation
import SyncTesting

/// A server under test in the fan-out benchmark: a child process of this one on a loopback port,
/// so that its CPU and memory are its own and it shares no threads with the clients.
struct FanOutServer: Sendable {
    /// What the server is to the figures: the one measured, or a reference.
    enum Role: Sendable {
        /// `synclayer server`.
        case ours
        /// Our stack without a store (``BareBroadcastServer``).
        case bare
        /// A server that does nothing per delivery but the send (`floor_server.py`).
        case floor
        /// Python's `websockets.broadcast` server, the targets' baseline.
        case python
    }

    let role: Role
    /// How the report names it.
    let name: String
    let child: ChildProcess
    /// Where subscribers and writers connect.
    let url: String

    var pid: pid_t { child.pid }

    /// `synclayer server` (the release binary `executable`) over a new SQLite file `data`, open to
    /// every client (no `--tokens`).
    static func ours(_ executable: String, data: String) async throws -> FanOutServer {
        let (child, port) = try await ScaleBenchmark.startServer(executable, data: data)
        return FanOutServer(role: .ours, name: "synclayer server", child: child, url: "ws://127.0.0.1:\(port)/ws")
    }

    /// The bare stack without a store (``BareBroadcastServer``): this executable run as
    /// `sync-benchmark serve-bare-broadcast`.
    static func bare() async throws -> FanOutServer {
        let (child, port) = try await startServingChild(BareBroadcastServer.serveArgument, name: "bare broadcast server")
        return FanOutServer(role: .bare, name: "bare stack (Hummingbird, no store)", child: child, url: "ws://127.0.0.1:\(port)/")
    }

    /// Python's `websockets.broadcast` server (``PythonBroadcastServer``).
    static func python() async throws -> FanOutServer {
        let server = try await PythonBroadcastServer.start()
        return FanOutServer(role: .python, name: "Python websockets.broadcast", child: server.child, url: "ws://127.0.0.1:\(server.port)/")
    }

    /// The floor (`floor_server.py`): one epoll loop that relays each message with one send per
    /// subscriber and pass of the loop, nothing else; any `python3` runs it.
    static func floor() async throws -> FanOutServer {
        let server = try await PythonBroadcastServer.start(script: "floor_server.py", needs: "")
        return FanOutServer(role: .floor, name: "floor: one send per subscriber, nothing else (floor_server.py)", child: server.child,
                            url: "ws://127.0.0.1:\(server.port)/")
    }

    /// SIGTERM, then SIGKILL after 5 s, by its pid.
    func stop() async {
        await PythonBroadcastServer.stop(child)
    }

    /// Starts ours (over `data`), the bare stack and, unless `python` is false, the floor and
    /// Python's server; runs `body` with them (ours first) and with why Python's is missing, if it
    /// is (a floor that cannot start is left out); stops every one that started, however `body` ended.
    static func withServers<T>(_ executable: String, data: String, python: Bool,
                               _ body: (_ servers: [FanOutServer], _ pythonProblem: String?) async throws -> T) async throws -> T {
        var servers: [FanOutServer] = []
        let result: Result<T, any Error>
        do {
            servers.append(try await ours(executable, data: data))
            servers.append(try await bare())
            var pythonProblem: String? = "skipped (--only fanout-ours)"
            if python {
                if let floor = try? await Self.floor() { servers.append(floor) }
                do {
                    servers.append(try await Self.python())
                    pythonProblem = nil
                } catch {
                    pythonProblem = "\(error)"
                }
            }
            // Let every process finish starting before anything reads its memory.
            try await Task.sleep(for: .seconds(1))
            result = .success(try await body(servers, pythonProblem))
        } catch {
            result = .failure(error)
        }
        for server in servers { await server.stop() }
        return try result.get()
    }
}
