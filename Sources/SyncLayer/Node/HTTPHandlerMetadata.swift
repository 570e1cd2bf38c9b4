import NIOCore
import NIOHTTP1

/// The HTTP/1 handler types a node's clients and servers put in their pipelines, instantiated once
/// per process on the thread that opens the first node, before any of its event loops uses them.
///
/// Swift's runtime (6.3.1, debug builds) can crash when two threads instantiate these generic types
/// for the first time at once: a thread that checks `ByteToMessageHandler<HTTPResponseDecoder>`'s
/// conformance requirement reads the metadata of `HTTPPart` while another thread is still
/// completing it ("Bad pointer dereference at 0x0" in
/// `isCanonicalStaticallySpecializedGenericMetadata`). A node does exactly that as it starts: its
/// HTTP client (async-http-client) and its WebSocket client (swift-websocket) each set up an HTTP/1
/// pipeline on a different event loop. It crashed a chaos run's node as it restarted. A reproducer
/// (threads released together to build those two pipelines, a new process per run) crashed in 94
/// of about 45,700 debug runs, none of 18,000 release runs, and none of 25,000 debug runs with the
/// metadata instantiated first on the main thread (`Docs/Reliability.md`, "Product issues seen").
/// The server side's pair (request decoder, response encoder) is instantiated too: a node's control
/// and mesh servers build it on the same event loops, so the same race could meet it; the
/// reproducer covered the client side's pair only.
enum HTTPHandlerMetadata {
    /// Instantiates the types (once; later calls return at once).
    static func warmUp() { _ = instantiated }

    private static let instantiated: Int = {
        // Values, not only their types: building them completes the metadata of what they hold
        // (`HTTPPart` and its heads) as a pipeline setup would.
        let values: [Any] = [
            HTTPRequestEncoder(),
            ByteToMessageHandler(HTTPResponseDecoder(leftOverBytesStrategy: .dropBytes, informationalResponseStrategy: .forward)),
            HTTPResponseEncoder(),
            ByteToMessageHandler(HTTPRequestDecoder()),
        ]
        return withExtendedLifetime(values) { values.count }
    }()
}
