/// A collection's document count and content digest.
public struct CollectionDigest: Hashable, Sendable {
    /// The collection.
    public let collection: String
    /// How many documents exist.
    public let count: Int
    /// 64 hex digits, equal on two stores exactly when their documents are equal.
    public let digest: String

    package init(collection: String, count: Int, digest: String) {
        self.collection = collection
        self.count = count
        self.digest = digest
    }
}
