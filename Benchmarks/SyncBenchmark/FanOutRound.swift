import BenchmarkSupport
import Foundation

/// One round of the fan-out benchmark against one server: subscribers connect and subscribe to
/// "bench", one writer sends inserts, and the round measures from the first send until the last
/// subscriber has the last frame.
enum FanOutRound {
    /// How the writer sends its inserts.
    enum Load: Sendable {
        /// `count` inserts written at once, as fast as the socket takes them.
        case stream(count: Int)
        /// `warmUp + count` inserts, each sent once the last reached every subscriber.
        case oneAtATime(warmUp: Int, count: Int)

        /// Inserts sent in all.
        var writes: Int {
            switch self {
            case .stream(let count): count
            case .oneAtATime(let warmUp, let count): warmUp + count
            }
        }
    }

    /// What a round measured.
    struct Sample: Sendable {
        /// Change frames the subscribers received, and their bytes as sent (payload and header).
        var frames = 0
        var bytes = 0
        /// From the first send until the last subscriber had the last frame.
        var seconds = 0.0
        /// CPU seconds over that window: of the server process, and of this one (every client).
        var serverCPU = 0.0
        /// The part of the server's CPU spent in the kernel (clock ticks: coarse below a second).
        var serverKernelCPU = 0.0
        var clientCPU = 0.0
        /// One at a time: for each measured write, from its send until the last subscriber had it.
        var latencies: [Double] = []
        /// When asked: the server's resident bytes before the subscribers connected, and with them
        /// connected and idle.
        var idle: Int?
        var connected: Int?
        /// When asked (then the CPU figures mean nothing): the server's write calls.
        var syscalls: SyscallCount.Calls?
    }

    /// Runs one round with `subscribers` against `server`; `tag` makes its record ids unique.
    /// With `memory`, reads the server's memory before the subscribers connect and once they are
    /// connected; with `countSyscalls`, counts its write calls with strace over the round.
    static func run(_ server: FanOutServer, subscribers: Int, load: Load, tag: String, text: String,
                    memory: Bool = false, countSyscalls: Bool = false) async throws -> Sample {
        var sample = Sample()
        if memory { sample.idle = ProcessMemory.read(server.pid)?.resident }
        let arrivals = ScaleBenchmark.Arrivals(subscribers: subscribers)
        let sockets = try await ScaleBenchmark.connectSubscribers(url: server.url, count: subscribers, arrivals: arrivals)
        let result: Result<Sample, any Error>
        do {
            // Let the connections settle (their tasks started, buffers allocated) and the previous
            // round's server finish closing its connections, so that neither counts here.
            try await Task.sleep(for: .seconds(memory ? 1 : 0.5))
            if memory { sample.connected = ProcessMemory.read(server.pid)?.resident }
            let trace = countSyscalls ? try await SyscallCount.attach(to: server.pid) : nil
            do {
                try await measure(server, arrivals: arrivals, load: load, tag: tag, text: text, into: &sample)
                if let trace { sample.syscalls = try await trace.detach() }
                result = .success(sample)
            } catch {
                await trace?.cancel()
                throw error
            }
        } catch {
            result = .failure(error)
        }
        await ScaleBenchmark.close(sockets, arrivals)
        return try result.get()
    }

    /// Sends `load` to `server` and records, from the first send until every subscriber counted by
    /// `arrivals` has every frame, the CPU of the server and of this process, the time and what arrived.
    static func measure(_ server: FanOutServer, arrivals: ScaleBenchmark.Arrivals, load: Load, tag: String, text: String,
                        into sample: inout Sample) async throws {
        let expected = arrivals.subscribers * load.writes
        // The streaming writer connects before the window; one at a time, `timedWrites` connects its own.
        var writer: BenchSocket?
        if case .stream = load { writer = try await BenchSocket.connect(server.url) { _ in } }
        guard let serverStart = ProcessCPU.read(server.pid) else { throw BenchmarkError("\(server.name) (pid \(server.pid)) is gone") }
        let clientStart = ProcessCPU.own(), start = now()
        let waited: Result<Void, any Error>
        do {
            switch load {
            case .stream(let count):
                try await writer?.sendAll((0..<count).map { ScaleBenchmark.insert(tag: tag, index: $0, text: text) })
                _ = try await withTimeout(120, "fan-out of \(count) inserts to \(arrivals.subscribers) subscribers of \(server.name)") {
                    var signals = arrivals.signals.makeAsyncIterator()
                    while arrivals.total.load(ordering: .relaxed) < expected {
                        guard await signals.next() != nil else { throw BenchmarkError("arrivals ended") }
                    }
                    return true
                }
            case .oneAtATime(let warmUp, let count):
                sample.latencies = try await ScaleBenchmark.timedWrites(url: server.url, arrivals: arrivals, warmUp: warmUp, samples: count,
                                                                        tag: tag, text: text)
            }
            waited = .success(())
        } catch {
            waited = .failure(error)
        }
        let serverEnd = ProcessCPU.read(server.pid), clientEnd = ProcessCPU.own()
        await writer?.close()
        try waited.get()
        guard let serverEnd else { throw BenchmarkError("\(server.name) (pid \(server.pid)) is gone: \(server.child.standardError.suffix(300))") }
        sample.frames = arrivals.total.load(ordering: .relaxed)
        guard sample.frames == expected else {
            throw BenchmarkError("\(sample.frames) frames arrived from \(server.name), expected \(expected) (a frame too many or missing)")
        }
        sample.bytes = arrivals.bytes.load(ordering: .relaxed)
        sample.seconds = arrivals.lastDelivery - start
        sample.serverCPU = ProcessCPU.used(from: serverStart, to: serverEnd)
        sample.serverKernelCPU = serverEnd.system - serverStart.system
        sample.clientCPU = clientEnd - clientStart
    }
}
