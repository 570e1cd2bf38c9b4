import SyncCore
import SyncStore

/// Who uploads what to the server, and when, as a pure type: the realtime session, the poller and
/// the mesh ask it and carry out the answer. Time is a monotonic reading in nanoseconds, passed in.
///
/// - A node always uploads its own changes: at once when a link comes up, and each as it is made.
/// - Changes of other origins reached a mesh node over the LAN. Their own nodes upload them, or a
///   gateway does: when the server link comes up, they wait (``Gateway``), because after a heal
///   every node reconnects at once and the server reports what it received from the others (change
///   frames, `held` ranges), which takes them out of this node's outbox. The node waits a grace
///   period, and another each time the count of other origins' changes went down meanwhile (at most
///   `maxExtensions` times); when a grace passes with no progress it uploads what is left.
/// - A change relayed by a peer goes to the server at once when this node has an uplink (this node
///   is then the peer's gateway), unless the server is known to hold it.
/// - Over REST with no realtime session (the link is down or absent) the whole outbox goes: nobody
///   else is uploading through this node's HTTP requests, and the server drops duplicates by change
///   id. While a session runs (a poll that retries a failed one with the link up, or `syncNow()`),
///   REST takes only the node's own changes: the others are the session's gateway's to upload, after
///   its wait.
struct UploadPolicy: Sendable {
    /// This node's id: the origin of its own changes.
    var ownID: NodeID
    /// Whether the node runs a LAN mesh (else every change in the outbox is its own or a conflict
    /// resolution it wrote).
    var mesh: Bool
    /// How long the gateway waits for the server to report the other origins' changes.
    var gatewayGrace: Duration
    /// How many times the wait is extended while the count keeps going down.
    var maxExtensions = 10

    /// What goes at once when a realtime link to our server completes its handshake.
    func atHandshake(_ outbox: [Change]) -> [Change] {
        mesh ? outbox.filter { $0.id.origin == ownID } : outbox
    }

    /// What of the outbox the gateway waits for (other origins'); empty without a mesh.
    func foreign(_ outbox: [Change]) -> [Change] {
        mesh ? outbox.filter { $0.id.origin != ownID } : []
    }

    /// What of the changes a peer relayed goes to the server now.
    func fromPeer(_ applied: [ChangeInTransit], ownUplink: Bool) -> [Change] {
        ownUplink ? applied.filter { !$0.acknowledged }.map(\.change) : []
    }

    /// What a push over REST sends, while a realtime session to a server of ours runs or not.
    ///
    /// While one runs, nothing: the session sends every change of this node's that is in the
    /// outbox, those there at its handshake and those committed since (its stream is attached
    /// first), and other origins' are its gateway's, after the wait. A push then would only send a
    /// change a second time, by the slower path (the server drops the copy it already holds). If
    /// the session ends first, the poller pushes what is left.
    func overREST(_ outbox: [Change], sessionLive: Bool) -> [Change] {
        sessionLive ? [] : outbox
    }

    /// The gateway's wait, one per realtime session.
    func gateway(waiting: Int, now: UInt64) -> Gateway {
        Gateway(grace: gatewayGrace, maxExtensions: maxExtensions, waiting: waiting, now: now)
    }

    /// The gateway's wait for other origins' changes: ``next(foreignWaiting:now:)`` after each
    /// grace says whether to wait again, upload, or stop.
    struct Gateway: Sendable, Equatable {
        /// What the session does next.
        enum Decision: Sendable, Equatable {
            /// Check again at this time.
            case wait(until: UInt64)
            /// Upload the other origins' changes still waiting: this node is their gateway.
            case upload
            /// Nothing of other origins is waiting: the gateway's job is done.
            case done
        }

        let grace: Duration
        let maxExtensions: Int
        private(set) var waiting: Int
        private(set) var extensions = 0
        private(set) var deadline: UInt64

        init(grace: Duration, maxExtensions: Int, waiting: Int, now: UInt64) {
            self.grace = grace
            self.maxExtensions = maxExtensions
            self.waiting = waiting
            deadline = now + UInt64(max(0, grace.nanosecondsValue))
        }

        /// The first decision: wait one grace (other origins' changes may still be arriving over the
        /// mesh as the link comes up).
        var first: Decision { .wait(until: deadline) }

        /// Called at or after the deadline with the count of other origins' changes still waiting.
        mutating func next(foreignWaiting: Int, now: UInt64) -> Decision {
            guard foreignWaiting > 0 else { return .done }
            guard now >= deadline else { return .wait(until: deadline) }
            if foreignWaiting < waiting && extensions < maxExtensions {
                waiting = foreignWaiting
                extensions += 1
                deadline = now + UInt64(max(0, grace.nanosecondsValue))
                return .wait(until: deadline)
            }
            return .upload
        }
    }
}
