import Logging
import NIOWebSocket
@testable import SyncLayer
import SyncCore
import SyncStore
import SyncTesting
import Testing
import WSCore

/// A connection without sockets: the test plays the server, delivering frames to the session and
/// reading what the session wrote.
final class InMemoryMessageChannel: MessageChannel {
    private let incoming: AsyncThrowingStream<WebSocketMessage, any Error>
    private let incomingContinuation: AsyncThrowingStream<WebSocketMessage, any Error>.Continuation
    /// What the session wrote, in order; finishes when the session closes the connection.
    let written: AsyncStream<WebSocketMessage>
    private let writtenContinuation: AsyncStream<WebSocketMessage>.Continuation

    /// A peer that never takes what is written: ``written()`` waits until cancelled (the stream is
    /// never fed, and its continuation is kept so that it does not finish).
    private let stall: (stream: AsyncStream<Void>, continuation: AsyncStream<Void>.Continuation)?

    /// Ends ``written`` after at most a minute: a test waiting for a frame that never comes then
    /// fails ("the session wrote nothing more") instead of hanging the whole run.
    private let bound: Task<Void, Never>

    init(stalled: Bool = false, bound: Duration = .seconds(60)) {
        (incoming, incomingContinuation) = AsyncThrowingStream.makeStream()
        (written, writtenContinuation) = AsyncStream.makeStream()
        stall = stalled ? AsyncStream.makeStream(of: Void.self) : nil
        let continuation = writtenContinuation
        self.bound = Task {
            try? await Task.sleep(for: bound)
            continuation.finish()
        }
    }

    deinit {
        bound.cancel()
    }

    func messages(maxSize: Int) -> AsyncThrowingStream<WebSocketMessage, any Error> { incoming }

    func write(_ message: WebSocketMessage) async throws { writtenContinuation.yield(message) }

    func written() async throws {
        guard let stall else { return }
        for await _ in stall.stream {}
        throw CancellationError()
    }

    func close(_ code: WebSocketErrorCode, reason: String?) async throws { writtenContinuation.finish() }

    /// The server sends `frame`.
    func deliver(_ frame: Frame) { incomingContinuation.yield(.text(FrameCodec().encodeString(frame))) }

    /// The connection's input ends (what aborting a real connection does).
    func endInput() { incomingContinuation.finish() }

    /// Nothing more is written: what aborting a real connection does to its output.
    func endOutput() { writtenContinuation.finish() }
}

/// The next frame a session wrote to an ``InMemoryMessageChannel``.
func next(_ frames: inout AsyncStream<WebSocketMessage>.Iterator) async throws -> Frame {
    let message = try #require(await frames.next(), "the session wrote nothing more")
    return try FrameCodec().decode(message)
}

@Suite struct RealtimeSessionTests {
    @Test func aSessionSaysHelloSendsItsOutboxAppliesTheServersChangesAndLetsAckedChangesGo() async throws {
        try await withTemporaryDirectory(prefix: "session") { directory in
            let configuration = SyncConfiguration(databasePath: directory.file("node.sqlite"), baseURL: "http://127.0.0.1:9", collections: ["todos"])
            let node = try await SyncNode.open(configuration)
            defer { Task { await node.close() } }
            try await node.collection("todos").save(["text": "written offline"], id: "mine")
            let session = RealtimeSession(engine: node.engine, configuration: configuration, logger: Logger(label: "test"), probeWait: .seconds(60))
            let channel = InMemoryMessageChannel()
            let handshakes = Locked(0)
            let running = Task {
                try await session.run(channel: channel, abort: { channel.endInput() }) { _ in handshakes.withLock { $0 += 1 } }
            }
            var frames = channel.written.makeAsyncIterator()

            // The node speaks first: hello with its vector, a subscription per collection, then a ping
            // (which a backend of the original protocol answers at once, after the subscriptions).
            guard case .hello(let hello) = try await next(&frames) else { Issue.record("no hello first"); return }
            #expect(hello.nodeID == node.nodeID)
            #expect(hello.vector[node.nodeID] == 1)
            guard case .subscribe(let collection) = try await next(&frames) else { Issue.record("no subscribe"); return }
            #expect(collection == "todos")
            guard case .ping = try await next(&frames) else { Issue.record("no ping after the subscriptions"); return }

            // The server answers; the node sends its outbox.
            let server = ChangeSigner()
            channel.deliver(.hello(Hello(nodeID: server.nodeID, vector: VersionVector(), cursor: 0, time: nil, collections: ["todos"])))
            guard case .change(let sent) = try await next(&frames) else { Issue.record("the outbox was not sent"); return }
            #expect(sent.recordID == "mine" && sent.change?.signature != nil)
            #expect(handshakes.withLock { $0 } == 1)

            // The server acknowledges it and sends another node's change.
            let id = try #require(sent.change?.id)
            channel.deliver(.ack(Ack(committed: [id: 1], cursor: 1)))
            let other = ChangeSigner()
            let theirs = other.signingOwn(Change(id: ChangeID(origin: other.nodeID, seq: 1), hlc: HLCTimestamp(wallMillis: 1_000), collection: "todos",
                                                 recordID: "theirs", kind: .insert, fields: ["text": "from elsewhere"]))
            channel.deliver(.change(ChangeMessage(theirs, serverSeq: 2)))
            let settled = try await waitUntil(node, timeout: .seconds(10)) {
                let applied = try await node.collection("todos").get("theirs") != nil
                let waiting = try await node.store.outboxCount()
                return applied && waiting == 0
            }
            #expect(settled, "the server's change is applied and the acknowledged one left the outbox")
            let position = try await node.store.serverPosition()
            #expect(position.server == server.nodeID && position.cursor == 2, "the cursor moved with the applied change")

            // A local write while the session runs goes out at once.
            try await node.collection("todos").save(["text": "live"], id: "live")
            guard case .change(let live) = try await next(&frames) else { Issue.record("the live change was not sent"); return }
            #expect(live.recordID == "live")

            running.cancel()
            _ = try? await running.value
        }
    }
}

/// A realtime session against backends of the original protocol, played in memory: how it tells
/// them from a server of ours, what it writes to them, and when a change leaves the outbox.
@Suite struct OriginalDialectSessionTests {
    /// A node with one change in its outbox and a session on an in-memory connection. The probe's
    /// wait is a minute unless a test is about silence: a test that answers the probe must not race
    /// its deadline on a loaded machine.
    struct Setup {
        let node: SyncNode
        let session: RealtimeSession
        let channel = InMemoryMessageChannel()
        let handshakes = Locked(0)
        let ended = Locked(false)
        let running: Task<Void, any Error>

        init(directory: TemporaryDirectory, pingInterval: Duration = .seconds(30), probeWait: Duration = .seconds(60),
             token: String? = nil, confirmSilence: (@Sendable () async -> DialectEvidence?)? = nil) async throws {
            var configuration = SyncConfiguration(databasePath: directory.file("node.sqlite"), collections: ["todos"])
            configuration.websocketURL = "ws://127.0.0.1:9/ws"
            configuration.authToken = token
            configuration.pingInterval = pingInterval
            let node = try await SyncNode.open(configuration)
            try await node.collection("todos").save(["text": "written offline", "done": false], id: "mine")
            self.init(node: node, session: RealtimeSession(engine: node.engine, configuration: configuration, logger: Logger(label: "test"),
                                                           probeWait: probeWait, confirmSilence: confirmSilence))
        }

        /// `session` of `node` run on a new in-memory connection.
        private init(node: SyncNode, session: RealtimeSession) {
            self.node = node
            self.session = session
            let (session, channel, handshakes, ended) = (session, channel, handshakes, ended)
            running = Task {
                defer {
                    ended.withLock { $0 = true }
                    // A test that waits for more frames learns that none will come.
                    channel.endOutput()
                }
                try await session.run(channel: channel, abort: { channel.endInput() }) { _ in handshakes.withLock { $0 += 1 } }
            }
        }

        /// The node's next connection: a new session, as configured as this one.
        func reconnected() -> Setup {
            Setup(node: node, session: RealtimeSession(engine: node.engine, configuration: session.configuration, logger: Logger(label: "test"),
                                                       probeWait: session.probeWait, confirmSilence: session.confirmSilence))
        }

        func stop() async {
            running.cancel()
            _ = try? await running.value
            await node.close()
        }
    }

    /// After the probe's wait: `hello`, `subscribe` and the first write, pings passed over; `nil` when
    /// the session wrote something else.
    func firstWriteAfterHandshake(_ frames: inout AsyncStream<WebSocketMessage>.Iterator, pings: inout Int) async throws -> ChangeMessage? {
        guard case .hello = try await nextBesidesPings(&frames, pings: &pings), case .subscribe = try await nextBesidesPings(&frames, pings: &pings),
              case .change(let sent) = try await nextBesidesPings(&frames, pings: &pings) else { return nil }
        return sent
    }

    /// Reads frames until one that is not a ping, counting the pings passed over.
    func nextBesidesPings(_ frames: inout AsyncStream<WebSocketMessage>.Iterator, pings: inout Int) async throws -> Frame {
        while true {
            let frame = try await next(&frames)
            guard case .ping = frame else { return frame }
            pings += 1
        }
    }

    @Test func aPongBeforeAnyHelloMeansTheOriginalProtocolAndConfirmsWhatWasWrittenBeforeItsPing() async throws {
        try await withTemporaryDirectory(prefix: "original-pong") { directory in
            let setup = try await Setup(directory: directory)
            var frames = setup.channel.written.makeAsyncIterator()
            guard case .hello = try await next(&frames), case .subscribe = try await next(&frames), case .ping = try await next(&frames) else {
                Issue.record("not hello, subscribe, ping"); return
            }
            // The backend answers the ping: that is enough to tell, long before any deadline.
            setup.channel.deliver(.pong(time: nil))
            // The outbox goes out as the original frame (the whole document of a save), then a ping.
            guard case .change(let sent) = try await next(&frames) else { Issue.record("the outbox was not sent"); return }
            #expect(sent.kind == .insert && sent.recordID == "mine" && sent.data == ["text": "written offline", "done": false])
            guard case .ping = try await next(&frames) else { Issue.record("no ping after the write"); return }
            #expect(setup.handshakes.withLock { $0 } == 1, "connected as soon as the dialect is known")
            #expect(setup.node.engine.speaksOriginalProtocol)
            #expect(try await setup.node.store.outboxCount() == 1, "nothing confirms the write yet")
            // An update is sent with its changed fields only.
            try await setup.node.collection("todos").update("mine", ["done": true])
            guard case .change(let update) = try await next(&frames) else { Issue.record("the update was not sent"); return }
            #expect(update.kind == .update && update.data == ["done": true])
            // The pong to the ping after the first write confirms it; the update waits for the next pong.
            setup.channel.deliver(.pong(time: nil))
            let confirmed = try await waitUntil(setup.node, timeout: .seconds(10)) { try await setup.node.store.outboxCount() == 1 }
            #expect(confirmed)
            setup.channel.deliver(.pong(time: nil))
            #expect(try await waitUntil(setup.node, timeout: .seconds(10)) { try await setup.node.store.outboxCount() == 0 })
            await setup.stop()
        }
    }

    @Test func aBackendThatAnswersNothingIsTakenForTheOriginalAfterTheProbeAndNeverDeclaredDeadForItsSilence() async throws {
        try await withTemporaryDirectory(prefix: "original-silent") { directory in
            let setup = try await Setup(directory: directory, pingInterval: .milliseconds(100), probeWait: .milliseconds(300))
            var frames = setup.channel.written.makeAsyncIterator()
            var pings = 0
            guard let sent = try await firstWriteAfterHandshake(&frames, pings: &pings) else {
                Issue.record("the outbox was not sent after the probe's wait"); return
            }
            #expect(sent.recordID == "mine")
            #expect(setup.handshakes.withLock { $0 } == 1)
            // No pong ever: the write is confirmed by the connection staying open two WebSocket ping
            // periods and a half (7.5 s: those pings would have closed it otherwise).
            #expect(try await waitUntil(setup.node, timeout: .seconds(30)) { try await setup.node.store.outboxCount() == 0 })
            // Silent through many ping intervals, and still not declared dead.
            pings = 0
            while pings < 8 {
                if case .ping = try await next(&frames) { pings += 1 }
            }
            #expect(!setup.ended.withLock { $0 }, "a backend that never answered a ping is not dead for its silence")
            await setup.stop()
        }
    }

    /// Silence is also what a server of ours looks like behind a slow or flapping link (the chaos
    /// harness's seed 8 of `--long` took one for the original protocol and its writes came back as
    /// the server's own changes, one losing an acknowledged update). With a REST base URL, the
    /// backend's route is asked first: nothing is written in the original protocol unless it says
    /// the backend is not ours.
    @Test(.timeLimit(.minutes(1)), arguments: [DialectEvidence.pullAnswered, nil])
    func aSilentBackendIsWrittenNothingUnlessItsRESTRouteSaysItIsNotOurs(_ answer: DialectEvidence?) async throws {
        try await withTemporaryDirectory(prefix: "original-silent-asked") { directory in
            let asked = Locked(0)
            let setup = try await Setup(directory: directory, pingInterval: .milliseconds(100), probeWait: .milliseconds(300)) {
                asked.withLock { $0 += 1 }
                return answer
            }
            // The session ends by itself once the route has answered (or not), without writing: the
            // written frames end with it. (Without the question it writes the outbox and goes on.)
            let watchdog = Task {
                try await Task.sleep(for: .seconds(20))
                setup.running.cancel()
            }
            let ended: (any Error)?
            do {
                try await setup.running.value
                ended = nil
            } catch {
                ended = error
            }
            watchdog.cancel()
            if answer == .pullAnswered {
                #expect(ended is RealtimeSession.DialectCorrected, "ended for a server of ours: \(String(describing: ended))")
            } else {
                #expect(ended is RealtimeSession.SilenceUnexplained, "ended to ask again: \(String(describing: ended))")
            }
            setup.channel.endOutput()
            var written: [Frame] = []
            for await message in setup.channel.written { written.append(try FrameCodec().decode(message)) }
            #expect(asked.withLock { $0 } == 1, "the REST route was asked once")
            #expect(!written.contains { if case .change = $0 { true } else { false } }, "nothing written in the original protocol: \(written)")
            #expect(setup.handshakes.withLock { $0 } == 0, "never connected as a backend of the original protocol")
            #expect(!setup.node.engine.speaksOriginalProtocol)
            #expect(try await setup.node.store.outboxCount() == 1, "the change waits for the next session")
            await setup.stop()
        }
    }

    /// The question itself, of real HTTP servers: ours answers with its id; another route (a 404
    /// from a path ours does not serve) is not ours; nothing listening tells nothing.
    @Test func theRESTQuestionTellsOurServerFromAnotherAndNothingFromSilence() async throws {
        try await withTemporaryDirectory(prefix: "probe-dialect") { directory in
            let server = try await TestServer.start(databasePath: directory.file("server.sqlite"))
            for (index, (base, expected)) in [(server.baseURL, DialectEvidence.pullAnswered), (server.baseURL + "/elsewhere", .pullNotOurs),
                                              ("http://127.0.0.1:1", nil)].enumerated() {
                let configuration = SyncConfiguration(databasePath: directory.file("node\(index).sqlite"), baseURL: base, collections: ["todos"])
                let node = try await SyncNode.open(configuration)
                let poller = try #require(node.poller, "a node with a base URL has a poller")
                #expect(await poller.probeDialect() == expected, "\(base)")
                #expect(!node.engine.speaksOriginalProtocol, "asking learns nothing by itself")
                await node.close()
            }
            await server.stop()
        }
    }

    @Test func aSilentBackendWhoseRESTRouteIsNotOursIsWrittenToInTheOriginalProtocol() async throws {
        try await withTemporaryDirectory(prefix: "original-silent-not-ours") { directory in
            let setup = try await Setup(directory: directory, pingInterval: .milliseconds(100), probeWait: .milliseconds(300)) { .pullNotOurs }
            var frames = setup.channel.written.makeAsyncIterator()
            var pings = 0
            guard let sent = try await firstWriteAfterHandshake(&frames, pings: &pings) else {
                Issue.record("the outbox was not sent once the route said the backend is not ours"); return
            }
            #expect(sent.recordID == "mine")
            #expect(setup.handshakes.withLock { $0 } == 1)
            #expect(setup.node.engine.speaksOriginalProtocol && setup.node.engine.originalBackend.pullRefused)
            await setup.stop()
        }
    }

    @Test func aChangeUnconfirmedWhenTheConnectionDropsIsSentAgainOnTheNext() async throws {
        try await withTemporaryDirectory(prefix: "original-resend") { directory in
            let setup = try await Setup(directory: directory)
            var frames = setup.channel.written.makeAsyncIterator()
            guard case .hello = try await next(&frames), case .subscribe = try await next(&frames), case .ping = try await next(&frames) else {
                Issue.record("no hello, subscribe, ping"); return
            }
            setup.channel.deliver(.pong(time: nil))
            var pings = 0
            guard case .change = try await nextBesidesPings(&frames, pings: &pings) else { Issue.record("no write"); return }
            // The backend restarts before answering the ping after the write: the connection ends.
            setup.channel.endInput()
            _ = try? await setup.running.value
            #expect(try await setup.node.store.outboxCount() == 1, "unconfirmed: still in the outbox")
            // The next connection sends it again.
            let reconnected = setup.reconnected()
            var again = reconnected.channel.written.makeAsyncIterator()
            guard case .hello = try await next(&again), case .subscribe = try await next(&again), case .ping = try await next(&again) else {
                Issue.record("no hello, subscribe, ping"); await reconnected.stop(); return
            }
            reconnected.channel.deliver(.pong(time: nil))
            pings = 0
            guard case .change(let resent) = try await nextBesidesPings(&again, pings: &pings) else {
                Issue.record("not sent again"); await reconnected.stop(); return
            }
            #expect(resent.recordID == "mine" && resent.data == ["text": "written offline", "done": false])
            await reconnected.stop()
        }
    }

    @Test func aBackendThatAnswersPingsIsDeadAfterTwoIntervalsOfUnansweredOnes() async throws {
        try await withTemporaryDirectory(prefix: "original-dead") { directory in
            let setup = try await Setup(directory: directory, pingInterval: .milliseconds(100))
            var frames = setup.channel.written.makeAsyncIterator()
            guard case .hello = try await next(&frames), case .subscribe = try await next(&frames), case .ping = try await next(&frames) else {
                Issue.record("no hello, subscribe, ping"); return
            }
            setup.channel.deliver(.pong(time: nil))
            // Then silence: the session ends by itself (LinkDead), and closes the connection.
            await #expect(throws: RealtimeSession.LinkDead.self) { try await setup.running.value }
            await setup.node.close()
        }
    }

    @Test func aLateHelloEndsTheSessionSoTheNextSpeaksOurProtocol() async throws {
        try await withTemporaryDirectory(prefix: "original-late") { directory in
            let setup = try await Setup(directory: directory)
            var frames = setup.channel.written.makeAsyncIterator()
            guard case .hello = try await next(&frames) else { Issue.record("no hello"); return }
            setup.channel.deliver(.subscribed(collection: "todos"))
            _ = try await next(&frames)
            let server = ChangeSigner()
            setup.channel.deliver(.hello(Hello(nodeID: server.nodeID, vector: VersionVector(), cursor: 0, time: nil, collections: ["todos"])))
            await #expect(throws: RealtimeSession.DialectCorrected.self) { try await setup.running.value }
            #expect(!setup.node.engine.speaksOriginalProtocol)
            await setup.node.close()
        }
    }

    @Test func aBackendAskingForAuthGetsAnAuthFrameThenTheSubscriptionsAgain() async throws {
        try await withTemporaryDirectory(prefix: "original-auth") { directory in
            let setup = try await Setup(directory: directory, token: "s3cret")
            var frames = setup.channel.written.makeAsyncIterator()
            var pings = 0
            guard case .hello = try await nextBesidesPings(&frames, pings: &pings), case .subscribe = try await nextBesidesPings(&frames, pings: &pings) else {
                Issue.record("no hello, subscribe"); return
            }
            setup.channel.deliver(.error(FrameError(.unauthorized, "authenticate first")))
            guard case .auth(let token) = try await nextBesidesPings(&frames, pings: &pings) else { Issue.record("no auth frame"); return }
            #expect(token == "s3cret")
            #expect(setup.handshakes.withLock { $0 } == 0, "not connected before authenticated")
            setup.channel.deliver(.authenticated)
            guard case .subscribe(let collection) = try await nextBesidesPings(&frames, pings: &pings) else { Issue.record("no subscribe again"); return }
            #expect(collection == "todos")
            // The pong to the ping after the subscriptions says they are in: the link is usable.
            #expect(setup.handshakes.withLock { $0 } == 0)
            setup.channel.deliver(.pong(time: nil))
            guard case .change(let sent) = try await nextBesidesPings(&frames, pings: &pings) else { Issue.record("no outbox"); return }
            #expect(sent.recordID == "mine")
            #expect(setup.handshakes.withLock { $0 } == 1)
            #expect(setup.node.engine.originalBackend.wantsAuthFirst, "the next connection authenticates first")
            await setup.stop()
        }
    }

    /// A token that expires mid-session: the backend refuses the write with `AUTH_FAILED` and may
    /// still answer pings, which would confirm the write; it stays in the outbox instead, and the
    /// next connection authenticates first and sends it again.
    @Test(arguments: [FrameError.Code.authFailed, .unauthorized])
    func aRefusalForWantOfAuthenticationAfterTheHandshakeConfirmsNothingAndTheNextSessionAuthenticatesFirst(code: FrameError.Code) async throws {
        try await withTemporaryDirectory(prefix: "original-expired") { directory in
            let setup = try await Setup(directory: directory, token: "s3cret")
            var frames = setup.channel.written.makeAsyncIterator()
            guard case .hello = try await next(&frames), case .subscribe = try await next(&frames), case .ping = try await next(&frames) else {
                Issue.record("no hello, subscribe, ping"); return
            }
            setup.channel.deliver(.pong(time: nil))
            var pings = 0
            guard case .change = try await nextBesidesPings(&frames, pings: &pings) else { Issue.record("no write"); await setup.stop(); return }
            // The refusal, then the pong to the ping after the write.
            setup.channel.deliver(.error(FrameError(code, "token expired")))
            setup.channel.deliver(.pong(time: nil))
            await #expect(throws: RealtimeSession.AuthenticationRefused.self) { try await setup.running.value }
            #expect(try await setup.node.store.outboxCount() == 1, "refused, so not delivered")
            #expect(setup.node.engine.originalBackend.wantsAuthFirst)

            let reconnected = setup.reconnected()
            var again = reconnected.channel.written.makeAsyncIterator()
            guard case .auth(let token) = try await next(&again) else { Issue.record("not authenticated first"); await reconnected.stop(); return }
            #expect(token == "s3cret")
            guard case .hello = try await next(&again), case .subscribe = try await next(&again), case .ping = try await next(&again) else {
                Issue.record("no hello, subscribe, ping"); await reconnected.stop(); return
            }
            reconnected.channel.deliver(.authenticated)
            reconnected.channel.deliver(.pong(time: nil))
            pings = 0
            guard case .change(let resent) = try await nextBesidesPings(&again, pings: &pings) else {
                Issue.record("not sent again"); await reconnected.stop(); return
            }
            #expect(resent.recordID == "mine")
            await reconnected.stop()
        }
    }

    /// A backend that wants `auth` from a node without an `authToken` would refuse its writes, and
    /// the settle time would take them for delivered: the session ends without writing.
    @Test func aBackendAskingForAuthFromANodeWithoutATokenGetsNoWrite() async throws {
        try await withTemporaryDirectory(prefix: "original-no-token") { directory in
            let setup = try await Setup(directory: directory)
            let events = setup.node.events()
            var frames = setup.channel.written.makeAsyncIterator()
            guard case .hello = try await next(&frames), case .subscribe = try await next(&frames), case .ping = try await next(&frames) else {
                Issue.record("no hello, subscribe, ping"); await setup.stop(); return
            }
            setup.channel.deliver(.error(FrameError(.unauthorized, "authenticate first")))
            let after = await frames.next()
            #expect(after == nil, "nothing written after the refusal: the session ended")
            guard after == nil else { await setup.stop(); return }
            await #expect(throws: RealtimeSession.AuthenticationRefused.self) { try await setup.running.value }
            #expect(setup.handshakes.withLock { $0 } == 0)
            #expect(try await setup.node.store.outboxCount() == 1)
            // Closing the node ends the event stream, after what the session emitted.
            await setup.node.close()
            var said: [String] = []
            for await event in events where event.kind == .error { said.append(event.error ?? "") }
            #expect(said.contains { $0.contains("no authToken") }, "the node says why")
        }
    }
}

/// What a node writes again to a backend of the original protocol for pending changes: each
/// record's state now, never an old write that would undo a newer one.
@Suite struct OriginalWritesTests {
    @Test func pendingChangesAreWrittenAsEachRecordsStateNow() async throws {
        try await withTemporaryDirectory(prefix: "original-writes") { directory in
            let node = try await SyncNode.open(SyncConfiguration(databasePath: directory.file("node.sqlite"), collections: ["todos"]))
            let todos = node.collection("todos")
            try await todos.save(["text": "Milk", "done": false], id: "saved")
            try await todos.update("saved", ["done": true])
            try await todos.save(["text": "Gone"], id: "deleted")
            try await todos.delete("deleted")
            // A record written elsewhere, then updated here twice: only updates are pending for it.
            try await node.engine.applyLegacy([ChangeMessage(kind: .insert, collection: "todos", recordID: "theirs", data: ["a": 1, "b": 1],
                                                             timestamp: nil, metadata: [:])], realtime: false)
            try await todos.update("theirs", ["a": 2])
            try await todos.update("theirs", ["a": 3])
            // And a newer write from elsewhere lands on "saved" while its changes are pending.
            let later = ISO8601.string(fromMillis: node.engine.wallClock.nowMillis() + 60_000)
            try await node.engine.applyLegacy([ChangeMessage(kind: .update, collection: "todos", recordID: "saved", data: ["text": "Oat milk"],
                                                             timestamp: later, metadata: [:])], realtime: false)
            let writes = try await node.engine.originalWrites(for: node.engine.outbox(limit: 100))
            #expect(writes.map(\.recordID) == ["saved", "deleted", "theirs"])
            #expect(writes[0].kind == .insert && writes[0].fields == ["text": "Oat milk", "done": true], "the newer write is kept, not undone")
            #expect(writes[0].covers.count == 2)
            #expect(writes[1].kind == .delete)
            #expect(writes[2].kind == .update && writes[2].fields == ["a": 3], "only the fields the pending updates wrote")
            await node.close()
        }
    }
}
