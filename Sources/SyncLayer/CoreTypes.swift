import SyncCore

// The value types the node's API is written in live in SyncCore, which the server shares; these
// names make them part of SyncLayer's API without exporting the rest of SyncCore.

/// A JSON value: the content of documents (objects, arrays, strings, integers and doubles kept apart, Booleans, null).
public typealias JSONValue = SyncCore.JSONValue
/// A JSON object: a document's fields.
public typealias JSONObject = SyncCore.JSONObject
/// A document as reads and queries return it: its id and its fields.
public typealias Document = SyncCore.Document
/// The stable identity of a node, derived from its signing key.
public typealias NodeID = SyncCore.NodeID
/// A query filter: one of the fifteen operators of the original query API.
public typealias FilterOperator = SyncCore.FilterOperator
/// A collection's document count and content digest, equal on two stores exactly when their documents are.
public typealias CollectionDigest = SyncCore.CollectionDigest
/// How much a returned write survives: a killed process (the default) or a power loss.
public typealias Durability = SyncCore.Durability
