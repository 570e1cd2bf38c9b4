/// What a document must be to be stored and synced: finite numbers, bounded nesting.
public enum DocumentRules {
    /// Why `fields` cannot be stored, or `nil` when they can.
    public static func problem(with fields: JSONObject, maxDepth: Int) -> String? {
        for (name, value) in fields {
            if let problem = problem(with: value, depth: 1, maxDepth: maxDepth) { return "field \"\(name)\": \(problem)" }
        }
        return nil
    }

    private static func problem(with value: JSONValue, depth: Int, maxDepth: Int) -> String? {
        switch value {
        case .double(let number):
            return number.isFinite ? nil : "numbers must be finite (got \(number))"
        case .array(let elements):
            guard depth < maxDepth else { return "nested deeper than \(maxDepth) levels" }
            for element in elements {
                if let problem = problem(with: element, depth: depth + 1, maxDepth: maxDepth) { return problem }
            }
            return nil
        case .object(let object):
            guard depth < maxDepth else { return "nested deeper than \(maxDepth) levels" }
            for (_, element) in object {
                if let problem = problem(with: element, depth: depth + 1, maxDepth: maxDepth) { return problem }
            }
            return nil
        default:
            return nil
        }
    }
}
