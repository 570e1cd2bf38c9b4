/// The rules for collection names, record ids and field names, shared by every node and the server.
package enum Identifiers {
    /// Longest collection name, in UTF-8 bytes.
    package static let maxCollectionBytes = 128
    /// Longest record id, in UTF-8 bytes.
    package static let maxRecordIDBytes = 512

    /// Why an identifier was refused, or `nil` when a collection name is valid:
    /// 1 to 128 characters from `A-Z a-z 0-9 _ - .`, not starting with `.` or `_`.
    package static func problem(withCollection name: String) -> String? {
        let utf8 = name.utf8
        guard !utf8.isEmpty else { return "collection name is empty" }
        guard utf8.count <= maxCollectionBytes else { return "collection name is longer than \(maxCollectionBytes) bytes" }
        guard let first = utf8.first, first != UInt8(ascii: "."), first != UInt8(ascii: "_") else {
            return "collection name must not start with '.' or '_'"
        }
        let valid = utf8.allSatisfy { byte in
            (48...57).contains(byte) || (65...90).contains(byte) || (97...122).contains(byte) || byte == 95 || byte == 45 || byte == 46
        }
        return valid ? nil : "collection name \"\(name)\" may hold only letters, digits, '_', '-' and '.'"
    }

    /// Why a record id was refused, or `nil` when it is valid: 1 to 512 bytes, no control characters.
    package static func problem(withRecordID id: String) -> String? {
        let utf8 = id.utf8
        guard !utf8.isEmpty else { return "record id is empty" }
        guard utf8.count <= maxRecordIDBytes else { return "record id is longer than \(maxRecordIDBytes) bytes" }
        // Every change's record id is checked: scan the bytes as a buffer, not through the view.
        let control = utf8.withContiguousStorageIfAvailable { $0.contains { $0 < 0x20 || $0 == 0x7F } }
            ?? utf8.contains { $0 < 0x20 || $0 == 0x7F }
        guard !control else { return "record id contains a control character" }
        return nil
    }
}
