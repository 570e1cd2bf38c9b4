import ArgumentParser
import SyncLayer
import SyncCore

/// Parses `FIELD OP VALUE` conditions given to `--where`.
///
/// OP is one of `== != < <= > >= startsWith endsWith contains arrayContains arrayContainsAny in
/// notIn isNull`. VALUE is JSON (`"open"`, `3`, `true`, `["a","b"]`), or a bare word taken as a string.
enum FilterExpression {
    static let operators = ["==", "!=", "<", "<=", ">", ">=", "startsWith", "endsWith", "contains", "arrayContains",
                            "arrayContainsAny", "in", "notIn", "isNull"]

    static func parse(_ text: String) throws -> (field: String, op: FilterOperator) {
        let parts = text.split(maxSplits: 2, whereSeparator: { $0 == " " }).map(String.init)
        guard parts.count == 3 else {
            throw ValidationError("--where takes 'FIELD OP VALUE', e.g. 'status == \"open\"' (got '\(text)')")
        }
        let (field, symbol, operand) = (parts[0], parts[1], JSONFormatting.value(parts[2]))
        func list() throws -> [JSONValue] {
            guard let values = operand.arrayValue else { throw ValidationError("\(symbol) takes a JSON array, e.g. [\"a\",\"b\"]") }
            return values
        }
        func string() throws -> String {
            guard let value = operand.stringValue else { throw ValidationError("\(symbol) takes a string") }
            return value
        }
        switch symbol {
        case "==": return (field, .isEqualTo(operand))
        case "!=": return (field, .isNotEqualTo(operand))
        case "<": return (field, .isLessThan(operand))
        case "<=": return (field, .isLessThanOrEqualTo(operand))
        case ">": return (field, .isGreaterThan(operand))
        case ">=": return (field, .isGreaterThanOrEqualTo(operand))
        case "startsWith": return (field, .startsWith(try string()))
        case "endsWith": return (field, .endsWith(try string()))
        case "contains": return (field, .contains(try string()))
        case "arrayContains": return (field, .arrayContains(operand))
        case "arrayContainsAny": return (field, .arrayContainsAny(try list()))
        case "in": return (field, .whereIn(try list()))
        case "notIn": return (field, .whereNotIn(try list()))
        case "isNull":
            guard let flag = operand.boolValue else { throw ValidationError("isNull takes true or false") }
            return (field, .isNull(flag))
        default:
            throw ValidationError("unknown operator '\(symbol)'; use one of: \(operators.joined(separator: " "))")
        }
    }
}
