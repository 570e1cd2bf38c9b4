import SyncCore

/// Compiles a ``DocumentQuery`` to one SQL statement over the `documents` table and JSON1, so that
/// filtering, ordering and paging happen in SQLite, not in Swift.
///
/// Values are always bound as parameters (paths too), never spliced into the SQL text.
package struct QueryCompiler {
    package struct Compiled: Sendable {
        package var sql: String
        package var bindings: [SQLiteValue]
    }

    package enum Selection {
        case documents
        case count
    }

    package static func compile(_ query: DocumentQuery, selecting selection: Selection) throws(StoreError) -> Compiled {
        var bindings: [SQLiteValue] = [.text(query.collection)]
        var conditions = ["collection = ?1", "visible = 1"]
        for filter in query.filters {
            conditions.append(try condition(for: filter, bindings: &bindings))
        }
        var sql = "SELECT id, body FROM documents WHERE " + conditions.joined(separator: " AND ")
        var orderTerms: [String] = []
        for key in query.sort {
            let term = key.path == DocumentQuery.idPath ? "id" : "json_extract(body, \(try bind(path: key.path, &bindings)))"
            orderTerms.append(term + (key.descending ? " DESC" : ""))
        }
        if !query.sort.contains(where: { $0.path == DocumentQuery.idPath }) { orderTerms.append("id") }
        sql += " ORDER BY " + orderTerms.joined(separator: ", ")
        if query.limit != nil || query.offset != nil {
            guard (query.limit ?? 0) >= 0, (query.offset ?? 0) >= 0 else {
                throw StoreError(.invalidQuery, "limit and offset must not be negative")
            }
            bindings.append(.int(Int64(query.limit ?? -1)))
            bindings.append(.int(Int64(query.offset ?? 0)))
            sql += " LIMIT ?\(bindings.count - 1) OFFSET ?\(bindings.count)"
        }
        if selection == .count {
            sql = "SELECT count(*) FROM (\(sql))"
        }
        return Compiled(sql: sql, bindings: bindings)
    }

    /// The SQL path for a dot path: `$."a"."b"`.
    package static func jsonPath(_ path: String) throws(StoreError) -> String {
        let components = path.split(separator: ".", omittingEmptySubsequences: false)
        guard !path.isEmpty, components.allSatisfy({ !$0.isEmpty && !$0.contains("\"") }) else {
            throw StoreError(.invalidQuery, "\"\(path)\" is not a field path (dot-separated names, no quotes)")
        }
        return "$" + components.map { ".\"\($0)\"" }.joined()
    }

    private static func bind(path: String, _ bindings: inout [SQLiteValue]) throws(StoreError) -> String {
        bindings.append(.text(try jsonPath(path)))
        return "?\(bindings.count)"
    }

    private static func bind(_ value: SQLiteValue, _ bindings: inout [SQLiteValue]) -> String {
        bindings.append(value)
        return "?\(bindings.count)"
    }

    private static func condition(for filter: DocumentQuery.Filter, bindings: inout [SQLiteValue]) throws(StoreError) -> String {
        if filter.path == DocumentQuery.idPath {
            return try idCondition(filter.op, bindings: &bindings)
        }
        let path = try bind(path: filter.path, &bindings)
        let type = "json_type(body, \(path))"
        let value = "json_extract(body, \(path))"
        switch filter.op {
        case .isEqualTo(let operand):
            return matches(type: type, value: value, operand, &bindings)
        case .isNotEqualTo(let operand):
            return "NOT coalesce(\(matches(type: type, value: value, operand, &bindings)), 0)"
        case .isLessThan(let operand):
            return try compare(type: type, value: value, "<", operand, &bindings)
        case .isLessThanOrEqualTo(let operand):
            return try compare(type: type, value: value, "<=", operand, &bindings)
        case .isGreaterThan(let operand):
            return try compare(type: type, value: value, ">", operand, &bindings)
        case .isGreaterThanOrEqualTo(let operand):
            return try compare(type: type, value: value, ">=", operand, &bindings)
        case .startsWith(let prefix):
            let p = bind(.text(prefix), &bindings)
            return "(\(type) = 'text' AND substr(\(value), 1, length(\(p))) = \(p))"
        case .endsWith(let suffix):
            let s = bind(.text(suffix), &bindings)
            return "(\(type) = 'text' AND (length(\(s)) = 0 OR substr(\(value), -length(\(s))) = \(s)))"
        case .contains(let text):
            let t = bind(.text(text), &bindings)
            return "(\(type) = 'text' AND instr(\(value), \(t)) > 0)"
        case .arrayContains(let operand):
            return "(\(type) = 'array' AND EXISTS (SELECT 1 FROM json_each(body, \(path)) AS e WHERE \(matches(type: "e.type", value: "e.value", operand, &bindings))))"
        case .arrayContainsAny(let operands):
            guard !operands.isEmpty else { return "0" }
            let any = operands.map { matches(type: "e.type", value: "e.value", $0, &bindings) }.joined(separator: " OR ")
            return "(\(type) = 'array' AND EXISTS (SELECT 1 FROM json_each(body, \(path)) AS e WHERE \(any)))"
        case .whereIn(let operands):
            guard !operands.isEmpty else { return "0" }
            return "(" + operands.map { matches(type: type, value: value, $0, &bindings) }.joined(separator: " OR ") + ")"
        case .whereNotIn(let operands):
            guard !operands.isEmpty else { return "1" }
            return "NOT coalesce((" + operands.map { matches(type: type, value: value, $0, &bindings) }.joined(separator: " OR ") + "), 0)"
        case .isNull(let wantNull):
            return wantNull ? "(\(type) IS NULL OR \(type) = 'null')" : "(\(type) IS NOT NULL AND \(type) <> 'null')"
        }
    }

    /// `type`/`value` equal `operand`: same JSON type, same value.
    private static func matches(type: String, value: String, _ operand: JSONValue, _ bindings: inout [SQLiteValue]) -> String {
        switch operand {
        case .null: return "\(type) = 'null'"
        case .bool(let flag): return "\(type) = '\(flag ? "true" : "false")'"
        case .int(let int): return "(\(type) IN ('integer','real') AND \(value) = \(bind(.int(int), &bindings)))"
        case .double(let double): return "(\(type) IN ('integer','real') AND \(value) = \(bind(.double(double), &bindings)))"
        case .string(let text): return "(\(type) = 'text' AND \(value) = \(bind(.text(text), &bindings)))"
        case .array: return "(\(type) = 'array' AND \(value) = \(bind(.text(operand.canonicalString), &bindings)))"
        case .object: return "(\(type) = 'object' AND \(value) = \(bind(.text(operand.canonicalString), &bindings)))"
        }
    }

    private static func compare(type: String, value: String, _ op: String, _ operand: JSONValue,
                                _ bindings: inout [SQLiteValue]) throws(StoreError) -> String {
        switch operand {
        case .int(let int): return "(\(type) IN ('integer','real') AND \(value) \(op) \(bind(.int(int), &bindings)))"
        case .double(let double): return "(\(type) IN ('integer','real') AND \(value) \(op) \(bind(.double(double), &bindings)))"
        case .string(let text): return "(\(type) = 'text' AND \(value) \(op) \(bind(.text(text), &bindings)))"
        case .bool(let flag): return "(\(type) IN ('true','false') AND \(value) \(op) \(flag ? 1 : 0))"
        default: throw StoreError(.invalidQuery, "ordering comparisons take a number, a string or a Boolean, not \(operand)")
        }
    }

    private static func idCondition(_ op: FilterOperator, bindings: inout [SQLiteValue]) throws(StoreError) -> String {
        func text(_ value: JSONValue) throws(StoreError) -> String {
            guard let string = value.stringValue else { throw StoreError(.invalidQuery, "record ids are strings; compare \"id\" with a string") }
            return bind(.text(string), &bindings)
        }
        switch op {
        case .isEqualTo(let value): return "id = \(try text(value))"
        case .isNotEqualTo(let value): return "id <> \(try text(value))"
        case .isLessThan(let value): return "id < \(try text(value))"
        case .isLessThanOrEqualTo(let value): return "id <= \(try text(value))"
        case .isGreaterThan(let value): return "id > \(try text(value))"
        case .isGreaterThanOrEqualTo(let value): return "id >= \(try text(value))"
        case .startsWith(let prefix):
            let p = bind(.text(prefix), &bindings)
            return "substr(id, 1, length(\(p))) = \(p)"
        case .endsWith(let suffix):
            let s = bind(.text(suffix), &bindings)
            return "(length(\(s)) = 0 OR substr(id, -length(\(s))) = \(s))"
        case .contains(let part): return "instr(id, \(bind(.text(part), &bindings))) > 0"
        case .whereIn(let values):
            guard !values.isEmpty else { return "0" }
            var terms: [String] = []
            for value in values { terms.append(try text(value)) }
            return "id IN (\(terms.joined(separator: ",")))"
        case .whereNotIn(let values):
            guard !values.isEmpty else { return "1" }
            var terms: [String] = []
            for value in values { terms.append(try text(value)) }
            return "id NOT IN (\(terms.joined(separator: ",")))"
        case .isNull(let wantNull): return wantNull ? "0" : "1"
        case .arrayContains, .arrayContainsAny: throw StoreError(.invalidQuery, "the record id is not an array")
        }
    }
}
