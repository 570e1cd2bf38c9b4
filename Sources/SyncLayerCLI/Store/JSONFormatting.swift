import ArgumentParser
import SyncLayer
import SyncCore

/// Human-friendly JSON output and lenient JSON input for the command line.
enum JSONFormatting {
    /// `value` indented by two spaces per level, keys sorted.
    static func pretty(_ value: JSONValue, indent: String = "") -> String {
        let inner = indent + "  "
        switch value {
        case .array(let elements) where !elements.isEmpty:
            return "[\n" + elements.map { inner + pretty($0, indent: inner) }.joined(separator: ",\n") + "\n\(indent)]"
        case .object(let object) where !object.isEmpty:
            let keys = object.keys.sorted(by: JSONValue.utf8Less)
            return "{\n" + keys.map { key in
                inner + JSONValue.string(key).canonicalString + ": " + pretty(object[key]!, indent: inner)
            }.joined(separator: ",\n") + "\n\(indent)}"
        default:
            return value.canonicalString
        }
    }

    /// Parses a JSON object given on the command line.
    static func object(_ text: String, what: String) throws -> JSONObject {
        do {
            return try JSONParser().parseObject(Array(text.utf8))
        } catch {
            throw ValidationError("\(what) must be a JSON object: \(error)")
        }
    }

    /// Parses a value: JSON when it is JSON, else the text as a string.
    static func value(_ text: String) -> JSONValue {
        (try? JSONParser().parse(Array(text.utf8))) ?? .string(text)
    }
}
