/// What a document must be to be stored and synced: finite numbers, bounded nesting.
package enum DocumentRules {
    /// The canonical encoding of `fields`, checked in the same pass: throws the problem as a string
    /// when a number is not finite or nesting is deeper than `maxDepth`.
    package static func encode(_ fields: JSONObject, maxDepth: Int) -> Result<[UInt8], DocumentProblem> {
        var out: [UInt8] = []
        out.reserveCapacity(32 * fields.count + 2)
        var problem: String?
        appendChecked(.object(fields), depth: 0, maxDepth: maxDepth, to: &out, problem: &problem)
        if let problem { return .failure(DocumentProblem(message: problem)) }
        return .success(out)
    }

    private static func appendChecked(_ value: JSONValue, depth: Int, maxDepth: Int, to out: inout [UInt8], problem: inout String?) {
        guard problem == nil else { return }
        switch value {
        case .double(let number) where !number.isFinite:
            problem = "numbers must be finite (got \(number))"
        case .array(let elements):
            guard depth < maxDepth || elements.isEmpty else { problem = "nested deeper than \(maxDepth) levels"; return }
            out.append(UInt8(ascii: "["))
            for (index, element) in elements.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                appendChecked(element, depth: depth + 1, maxDepth: maxDepth, to: &out, problem: &problem)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let object):
            guard depth == 0 || depth < maxDepth || object.isEmpty else { problem = "nested deeper than \(maxDepth) levels"; return }
            out.append(UInt8(ascii: "{"))
            var first = true
            for (key, element) in object.sorted(by: { JSONValue.utf8Less($0.key, $1.key) }) {
                if !first { out.append(UInt8(ascii: ",")) }
                first = false
                JSONValue.appendQuoted(key, to: &out)
                out.append(UInt8(ascii: ":"))
                appendChecked(element, depth: depth + 1, maxDepth: maxDepth, to: &out, problem: &problem)
                if problem != nil, depth == 0 { problem = "field \"\(key)\": " + problem! }
                if problem != nil { return }
            }
            out.append(UInt8(ascii: "}"))
        default:
            value.appendCanonical(to: &out)
        }
    }
}

/// Why a document cannot be stored.
package struct DocumentProblem: Error, Hashable, Sendable {
    /// What is wrong, naming the field.
    package let message: String
}
