import ArgumentParser
import SyncLayer
import SyncCore

struct QueryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "query",
        abstract: "Print the documents matching conditions, as a JSON array of {\"id\", \"data\"}.",
        discussion: """
            Conditions are 'FIELD OP VALUE'; all must hold. FIELD is a dot path ('address.city'); \
            'id' means the record id. OP is one of:
              == != < <= > >= startsWith endsWith contains arrayContains arrayContainsAny in notIn isNull
            VALUE is JSON ('"open"', '3', 'true', '["a","b"]') or a bare word (a string).

            Example: synclayer query --data n.sqlite todos --where 'done == false' --order-by priority:desc --limit 10
            """)

    @OptionGroup var store: StoreOptions

    @Argument(help: "The collection.")
    var collection: String

    @Option(name: .customLong("where"), help: ArgumentHelp("A condition 'FIELD OP VALUE' (repeatable).", valueName: "condition"))
    var conditions: [String] = []

    @Option(name: .customLong("order-by"), help: ArgumentHelp("Order by FIELD, or FIELD:desc (repeatable).", valueName: "field"))
    var orderBy: [String] = []

    @Option(help: "At most this many documents.")
    var limit: Int?

    @Option(help: "Skip this many documents first.")
    var offset: Int?

    @Flag(help: "Print only how many documents match.")
    var count = false

    func run() async throws {
        let filters = try conditions.map(FilterExpression.parse)
        let result: JSONValue = try await store.withNode { node in
            var query = node.collection(collection).query
            for filter in filters { query = query.where(filter.field, filter.op) }
            for key in orderBy {
                if key.hasSuffix(":desc") {
                    query = query.orderBy(String(key.dropLast(5)), descending: true)
                } else {
                    query = query.orderBy(key.hasSuffix(":asc") ? String(key.dropLast(4)) : key)
                }
            }
            if let limit { query = query.limit(limit) }
            if let offset { query = query.offset(offset) }
            if count { return .int(Int64(try await query.count())) }
            return .array(try await query.get().map(\.cliJSON))
        }
        store.print(result)
    }
}
