#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
import Synchronization
import SyncCore
import SyncStore

/// The node's sync logic between its store and its transports: it applies what the server sends
/// (in order, with the cursor moving in the same transaction), handles acknowledgements, detects and
/// resolves conflicts, corrects the clock, and hands local changes to the live link.
///
/// Transports never touch the store; they hand decoded frames here.
final class SyncEngine: Sendable {
    /// The node's store. Only the engine writes sync state to it; transports go through the
    /// methods in `SyncEngine+State.swift`.
    private let store: LocalStore
    let configuration: SyncConfiguration
    let hub: EventHub
    let metrics: MetricsRecorder
    let wallClock: SystemWallClock
    let logger: Logger
    /// Where local changes go while a realtime session is up.
    private let liveSink = Mutex<AsyncStream<[Change]>.Continuation?>(nil)
    /// Polls on demand (set by the node when it runs a poller).
    let pollNow = Wakeup()
    /// Which protocol the backend speaks: learned from the realtime handshake or from a pull, used
    /// by both transports. Changed only through ``learnDialect(_:)``.
    private let dialectState = Locked<BackendDialect>(.unknown)
    /// Changes a realtime session has written to a backend of the original protocol and not yet seen
    /// confirmed: the poller leaves them out of its REST writes, so that a change goes one way at a
    /// time (a second copy arriving later could undo another node's newer write).
    private let inFlightOverWebSocket = Locked<Set<ChangeID>>([])
    /// What the node learned of a backend of the original protocol (reset when it turns out to be ours).
    private let originalFacts: Locked<OriginalBackendFacts>
    /// What the node knows of a backend it has learnt nothing of.
    private let unlearntFacts: OriginalBackendFacts
    /// Which collections sync with the server and the mesh.
    let syncedCollections: Set<String>
    /// Who uploads what, and when.
    let uploadPolicy: UploadPolicy
    /// Which instance of the server the transports talk to.
    let servers: ServerChoice
    /// Where new changes go to be passed to LAN peers (set by the mesh while it runs; it must return
    /// at once, as it is called on the store's writer thread), each change with whether the server
    /// is known to hold it.
    let meshForward = Locked<Callback<[ChangeInTransit]>?>(nil)

    init(store: LocalStore, configuration: SyncConfiguration, hub: EventHub, metrics: MetricsRecorder, wallClock: SystemWallClock, logger: Logger) {
        self.store = store
        self.configuration = configuration
        // Without a base URL there is no REST to try.
        unlearntFacts = OriginalBackendFacts(rest: configuration.baseURL == nil ? false : nil)
        originalFacts = Locked(unlearntFacts)
        syncedCollections = Set(configuration.collections)
        uploadPolicy = UploadPolicy(ownID: store.nodeID, mesh: configuration.mesh != nil,
                                    gatewayGrace: configuration.mesh?.gatewayGrace ?? .seconds(1))
        self.hub = hub
        self.metrics = metrics
        self.wallClock = wallClock
        self.logger = logger
        servers = ServerChoice(configuration: configuration, logger: logger)
    }


    // MARK: Dialect

    /// Whether the backend is known to speak only the original protocol.
    var speaksOriginalProtocol: Bool { dialectState.withLock { $0 } == .original }

    /// A transport saw `evidence` of the backend's dialect.
    func learnDialect(_ evidence: DialectEvidence) {
        let dialect = BackendDialect.after(evidence)
        let previous = dialectState.withLock { state in
            defer { state = dialect }
            return state
        }
        if previous != dialect, dialect == .original {
            logger.info("the backend speaks only the original protocol; syncing by timestamps",
                        metadata: ["synclayer.dialect.evidence": "\(evidence.rawValue)"])
        }
        if evidence == .pullNotOurs { originalFacts.withLock { $0.pullRefused = true } }
        if dialect == .synclayer { originalFacts.withLock { [unlearntFacts] in $0 = unlearntFacts } }
    }

    /// The backend's dialect as `synclayer status` names it.
    var dialectName: String { dialectState.withLock { $0 }.rawValue }

    /// What the node learned of a backend of the original protocol.
    var originalBackend: OriginalBackendFacts { originalFacts.withLock { $0 } }

    /// A poll found the backend's REST routes answering (`available`) or not (`reason`: the status or
    /// the connection error). Logged when it changes, so a backend without REST is said once.
    func noteREST(available: Bool, reason: String) {
        let previous = originalFacts.withLock { facts in
            defer { facts.rest = available }
            return facts.rest
        }
        guard previous != available else { return }
        if available {
            if previous == false { logger.info("the backend's REST routes answer again: writes are confirmed over REST") }
        } else {
            logger.notice("the backend has no REST routes (\(reason)): syncing over the WebSocket alone",
                          metadata: ["synclayer.rest": "\(configuration.baseURL ?? "none")"])
        }
    }

    /// The realtime session wrote these to a backend of the original protocol (`true`), or they are
    /// confirmed or the session ended (`false`).
    func setInFlightOverWebSocket(_ ids: [ChangeID], _ inFlight: Bool) {
        inFlightOverWebSocket.withLock { set in
            if inFlight { set.formUnion(ids) } else { set.subtract(ids) }
        }
    }

    /// The session ended: nothing is in flight over the WebSocket any more.
    func clearInFlightOverWebSocket() {
        inFlightOverWebSocket.withLock { $0.removeAll() }
    }

    /// What the poller may write over REST of `outbox`: what no session has in flight.
    func notInFlightOverWebSocket(_ outbox: [Change]) -> [Change] {
        let inFlight = inFlightOverWebSocket.withLock { $0 }
        return inFlight.isEmpty ? outbox : outbox.filter { !inFlight.contains($0.id) }
    }

    /// The backend asked for an `auth` frame first: connections start with one from now on.
    func noteWantsAuthFirst() {
        originalFacts.withLock { $0.wantsAuthFirst = true }
    }

    // MARK: Local changes

    /// Local changes were committed (the store's commit observer, on the committing thread): count,
    /// announce, and send them if a link is up.
    func localChangesCommitted(_ changes: [Change]) {
        guard !changes.isEmpty else { return }
        metrics.update { $0.operationsQueued += changes.count }
        if hub.hasSubscribers {
            for change in changes {
                emit(.operationQueued, collection: change.collection, recordID: change.recordID,
                     metadata: ["changeId": .string(change.id.description), "kind": .string(change.kind.rawValue), "source": "local"])
            }
        }
        let synced = changes.filter { syncedCollections.contains($0.collection) }
        guard !synced.isEmpty else { return }
        sendToServer(synced)
        meshForward.withLock { $0 }?(synced.map { ChangeInTransit($0, acknowledged: false) })
    }

    /// Sends changes to the server over the live link, if one is up (local changes, or a gateway
    /// passing on its peers'); otherwise they wait in the outbox.
    func sendToServer(_ changes: [Change]) {
        guard !changes.isEmpty else { return }
        HopTrace.mark(.handedToSession)
        _ = liveSink.withLock { $0?.yield(changes) }
    }

    /// Applies changes a LAN peer sent; returns those that were new here (to pass on).
    ///
    /// Only what its origin signed is applied (and so ever passed on): a peer, whether it made a
    /// change up, altered one on the way, or relays from one that did, cannot put it in a store.
    func applyFromPeer(_ messages: [ChangeMessage], peer: NodeID) async throws -> [ChangeInTransit] {
        var remote: [ChangeInTransit] = []
        remote.reserveCapacity(messages.count)
        let held = store.heldVector
        for message in messages {
            guard let change = message.change, syncedCollections.contains(change.collection) else { continue }
            switch ChangeSigner.verify(change, holding: held) {
            case .valid, .held:
                remote.append(ChangeInTransit(change, acknowledged: message.isAcknowledged))
                continue
            case .unsigned:
                logger.warning("refused an unsigned change from a peer", metadata: ["synclayer.peer": "\(peer)", "synclayer.change": "\(change.id)"])
            case .invalid(let reason):
                logger.warning("refused a change from a peer", metadata: ["synclayer.peer": "\(peer)", "synclayer.change": "\(change.id)",
                                                                          "synclayer.reason": "\(reason)"])
            }
            metrics.update { $0.changesRefused += 1 }
        }
        guard !remote.isEmpty else { return [] }
        // Merged by the per-field last-writer-wins rule; conflict strategies that need the server's
        // word (serverWins, custom) apply when the server's copy arrives.
        let result = try await store.applyRemote(remote)
        var applied: [ChangeInTransit] = []
        var duplicates = 0
        for (index, outcome) in result.outcomes.enumerated() {
            switch outcome {
            case .applied: applied.append(remote[index])
            case .duplicate: duplicates += 1
            }
        }
        metrics.update {
            $0.changesReceived += applied.count
            $0.changesFromPeers += applied.count
            $0.duplicatesDropped += duplicates
        }
        if !applied.isEmpty, hub.hasSubscribers {
            emit(.relayed, metadata: ["peer": .string(peer.rawValue), "changes": .int(Int64(applied.count))])
            for remote in applied { emitApplied(remote.change, source: ["source": "peer", "peer": .string(peer.rawValue)]) }
        }
        return applied
    }

    /// A realtime session is up: local changes from now on go to the returned stream.
    func attachLiveSession() -> AsyncStream<[Change]> {
        let (stream, continuation) = AsyncStream.makeStream(of: [Change].self)
        let previous = liveSink.withLock { sink -> AsyncStream<[Change]>.Continuation? in
            defer { sink = continuation }
            return sink
        }
        previous?.finish()
        return stream
    }

    /// Whether a realtime session runs (attached, its handshake done or under way).
    var hasLiveSession: Bool { liveSink.withLock { $0 != nil } }

    /// The realtime session ended.
    func detachLiveSession() {
        let previous = liveSink.withLock { sink -> AsyncStream<[Change]>.Continuation? in
            defer { sink = nil }
            return sink
        }
        previous?.finish()
    }

    // MARK: Applying what the server sends

    /// Applies changes from the server (committed there) and moves the cursor with them. Without a
    /// `server` (a backend of the original protocol) there is no cursor, and frames without our
    /// change ids merge by their timestamps.
    func applyFromServer(_ changes: [ChangeMessage], cursor: UInt64?, server: NodeID?, realtime: Bool) async throws {
        var remote: [ChangeInTransit] = []
        var legacy: [ChangeMessage] = []
        for message in changes {
            if let change = message.change {
                remote.append(ChangeInTransit(change, acknowledged: true, serverSeq: message.serverSeq))
            } else {
                legacy.append(message)
            }
        }
        let position = server == nil ? nil : (cursor ?? changes.compactMap(\.serverSeq).max())
        if !legacy.isEmpty { try await applyLegacy(legacy, realtime: realtime) }
        HopTrace.mark(.applying)
        let result = try await store.applyRemote(remote, cursor: position.flatMap { value in server.map { (SyncStateKey.serverCursor($0), value) } })
        var applied = 0, duplicates = 0
        var fresh: [ChangeInTransit] = []
        for (index, outcome) in result.outcomes.enumerated() {
            switch outcome {
            case .applied:
                applied += 1
                fresh.append(remote[index])
                if hub.hasSubscribers {
                    let change = remote[index].change
                    if realtime {
                        emit(Self.realtimeKind(change.kind), collection: change.collection, recordID: change.recordID,
                             metadata: ["changeId": .string(change.id.description), "source": "server"])
                    }
                    emitApplied(change, source: ["source": "server"])
                }
            case .duplicate:
                duplicates += 1
            }
        }
        metrics.update {
            $0.changesReceived += applied
            $0.duplicatesDropped += duplicates
        }
        if !fresh.isEmpty { meshForward.withLock { $0 }?(fresh) }
        if !result.conflicts.isEmpty { await resolve(result.conflicts) }
    }

    /// Applies writes from a backend that speaks only the original protocol.
    func applyLegacy(_ messages: [ChangeMessage], realtime: Bool) async throws {
        let changes = messages.map(legacyChange)
        try await store.applyLegacy(changes)
        metrics.update { $0.changesReceived += changes.count }
        if hub.hasSubscribers {
            for change in changes {
                if realtime { emit(Self.realtimeKind(change.kind), collection: change.collection, recordID: change.recordID, metadata: ["source": "server"]) }
                emit(.changeApplied, collection: change.collection, recordID: change.recordID,
                     metadata: ["source": "server", "kind": .string(change.kind.rawValue)])
            }
        }
    }

    func legacyChange(_ message: ChangeMessage) -> LegacyChange {
        let millis = message.timestamp.flatMap { ISO8601.millis(from: $0) } ?? wallClock.nowMillis()
        return LegacyChange(kind: message.kind, collection: message.collection, recordID: message.recordID,
                            fields: message.data ?? [:], millis: millis)
    }

    /// The server committed (or refused) changes.
    func acknowledge(_ ack: Ack, server: NodeID?) async throws {
        var settled = ack.committed
        for id in ack.rejected.keys { settled[id] = 0 }
        let cursor = ack.cursor.flatMap { value in server.map { (SyncStateKey.serverCursor($0), value) } }
        try await store.acknowledge(settled, held: ack.held, cursor: cursor)
        metrics.update {
            $0.operationsSynced += ack.committed.count
            $0.operationsFailed += ack.rejected.count
        }
        for (id, error) in ack.rejected {
            metrics.recordError(error.description)
            emit(.operationFailed, error: error.description, metadata: ["changeId": .string(id.description), "code": .string(error.code.rawValue)])
        }
        if hub.hasSubscribers {
            for id in ack.committed.keys { emit(.operationSynced, metadata: ["changeId": .string(id.description)]) }
        }
    }

    /// The outbox, minus what the server already holds (acknowledged here at once: an ack lost in a crash).
    func outboxForServer(vector: VersionVector, limit: Int) async throws -> [Change] {
        let outbox = try await self.outbox(limit: limit)
        let covered = outbox.filter { $0.id.seq <= vector[$0.id.origin] }
        if !covered.isEmpty {
            try await store.acknowledge(Dictionary(uniqueKeysWithValues: covered.map { ($0.id, UInt64(0)) }))
        }
        return outbox.filter { $0.id.seq > vector[$0.id.origin] }
    }

    // MARK: Clock

    /// The server's clock read `serverMillis` between `sentAt` and `receivedAt` (this machine's clock):
    /// when this machine is off by more than two seconds, correct the node's clock.
    func observeServerClock(serverMillis: UInt64, sentAt: UInt64, receivedAt: UInt64) async throws {
        let local = (sentAt + receivedAt) / 2
        let offset = Int64(bitPattern: serverMillis &- local)
        guard abs(offset) > 2_000 else { return }
        wallClock.offsetMillis += offset
        try await store.rebaseClock()
        logger.warning("this machine's clock is off; correcting the node's clock", metadata: ["synclayer.clock.offset_ms": "\(offset)"])
    }

    // MARK: Events

    /// The seed's event for a change the realtime link delivered.
    static func realtimeKind(_ kind: Change.Kind) -> SyncEvent.Kind {
        switch kind {
        case .insert: .realtimeInsert
        case .update: .realtimeUpdate
        case .delete: .realtimeDelete
        }
    }

    /// ``SyncEvent/Kind/changeApplied`` for a change from elsewhere, `source` saying where from.
    func emitApplied(_ change: Change, source: JSONObject) {
        var metadata = source
        metadata["changeId"] = .string(change.id.description)
        metadata["kind"] = .string(change.kind.rawValue)
        emit(.changeApplied, collection: change.collection, recordID: change.recordID, metadata: metadata)
    }

    func emit(_ kind: SyncEvent.Kind, collection: String? = nil, recordID: String? = nil, error: String? = nil, metadata: JSONObject = [:]) {
        hub.emit(SyncEvent(kind, collection: collection, recordID: recordID, error: error, metadata: metadata, time: wallClock.nowMillis()))
    }
}

// MARK: - State for the transports

/// What the transports (realtime session, poller, mesh) may know of the node's sync state: the
/// node's identity, its position with the server, the vectors and the outbox. Nothing here lets a
/// transport write a document or move a cursor; applying and acknowledging go through the engine's
/// other methods, which keep the cursor and the data in one transaction.
extension SyncEngine {
    /// This node's id (the origin of its changes).
    var nodeID: NodeID { store.nodeID }

    /// Signs this node's own changes as they leave it.
    var signer: ChangeSigner { store.signer }

    /// The server this node last synced with and its cursor there.
    func serverPosition() async throws -> ServerPosition {
        try await store.serverPosition()
    }

    /// A server completed a handshake or answered a pull: its cursor is the one that counts from now on.
    func rememberServer(_ server: NodeID) async throws {
        try await store.rememberServer(server)
    }

    /// Per origin, the highest sequence this node holds without a gap.
    func vector() async throws -> VersionVector {
        try await store.vector()
    }

    /// Per origin, the highest sequence this node knows the server holds.
    func acknowledgedVector() async throws -> VersionVector {
        try await store.acknowledgedVector()
    }

    /// What the outbox holds of the synced collections, oldest first (every origin's: a gateway's
    /// outbox holds its peers' changes too).
    func outbox(limit: Int) async throws -> [Change] {
        try await store.outbox(limit: limit).filter { syncedCollections.contains($0.collection) }
    }

    /// The changes a peer whose vector is `vector` lacks, each with whether the server holds it.
    func changes(missingFrom vector: VersionVector, limit: Int) async throws -> [ChangeInTransit] {
        try await store.changesWithAcknowledgement(missingFrom: vector, limit: limit)
    }

    /// A peer says the server holds these ranges: they leave the outbox here too.
    func serverHolds(_ ranges: [NodeID: [ClosedRange<UInt64>]]) async throws {
        guard !ranges.isEmpty else { return }
        try await store.acknowledge([:], held: ranges)
    }

    /// The newest `updatedAt` pulled from a backend of the original protocol for `collection`.
    func legacyCursor(collection: String) async throws -> UInt64 {
        try await store.cursor(SyncStateKey.legacyCursor(collection: collection))
    }

    /// Moves the original-protocol cursor of `collection` to `millis`.
    func advanceLegacyCursor(collection: String, to millis: UInt64) async throws {
        try await store.applyLegacy([], cursor: (SyncStateKey.legacyCursor(collection: collection), millis))
    }

    /// What to write to a backend of the original protocol for changes that are still pending (sent
    /// before, unconfirmed, or never sent): per record, its state here now, which already merges
    /// whatever newer arrived since. Such a backend keeps what arrives last, so sending an old change
    /// again would undo a newer write it had stored; the current state never goes back in time.
    /// A record whose pending changes are all updates gets an `update` of those fields; one deleted
    /// here, a `delete`; any other, an `insert` of the whole document. Records keep the order of
    /// their first pending change.
    func originalWrites(for pending: [Change]) async throws -> [OriginalWrite] {
        var order: [String] = []
        var byRecord: [String: [Change]] = [:]
        for change in pending {
            let key = change.collection + "\u{0}" + change.recordID
            if byRecord[key] == nil { order.append(key) }
            byRecord[key, default: []].append(change)
        }
        var writes: [OriginalWrite] = []
        for key in order {
            guard let changes = byRecord[key], let last = changes.last else { continue }
            let millis = changes.map(\.hlc.wallMillis).max() ?? last.hlc.wallMillis
            guard let current = try await store.get(collection: last.collection, id: last.recordID) else {
                writes.append(OriginalWrite(kind: .delete, collection: last.collection, recordID: last.recordID, fields: [:], millis: millis, covers: changes))
                continue
            }
            if changes.allSatisfy({ $0.kind == .update }) {
                var fields: JSONObject = [:]
                for change in changes {
                    for (name, value) in change.fields { fields[name] = current.data[name] ?? value }
                }
                writes.append(OriginalWrite(kind: .update, collection: last.collection, recordID: last.recordID, fields: fields, millis: millis,
                                            covers: changes))
            } else {
                writes.append(OriginalWrite(kind: .insert, collection: last.collection, recordID: last.recordID, fields: current.data, millis: millis,
                                            covers: changes))
            }
        }
        return writes
    }

    /// Writes a conflict resolution as a local change (which syncs like any other).
    func perform(_ resolution: Resolution, collection: String, id: String) async throws -> Change? {
        switch resolution {
        case .put(let fields): return try await store.put(collection: collection, id: id, fields: fields)
        case .update(let fields): return try await store.update(collection: collection, id: id, fields: fields)
        case .delete: return try await store.delete(collection: collection, id: id)
        }
    }
}

/// One write to a backend of the original protocol standing for pending changes of one record
/// (``SyncEngine/originalWrites(for:)``).
struct OriginalWrite: Sendable {
    let kind: Change.Kind
    let collection: String
    let recordID: String
    let fields: JSONObject
    /// The newest of the covered changes' times (ms), sent as the write's timestamp.
    let millis: UInt64
    /// The changes it stands for: confirmed together.
    let covers: [Change]

    /// The documented frame: `insert` with the whole document, `update` with the fields, `delete`.
    var message: ChangeMessage {
        ChangeMessage(kind: kind, collection: collection, recordID: recordID, data: kind == .delete ? nil : fields,
                      timestamp: ISO8601.string(fromMillis: millis), metadata: [:])
    }
}
