import CAvahi

/// Converts between a TXT dictionary and Avahi's `AvahiStringList`.
enum TXTRecord {
    /// Builds a string list for `txt` (sorted by key), passes it to `body`, then frees it.
    /// Values are written byte for byte: a value may hold NUL bytes (RFC 6763 §6.5), which a C
    /// string would cut short.
    static func withStringList<Result>(
        _ txt: [String: String],
        _ body: (UnsafeMutablePointer<AvahiStringList>?) -> Result
    ) -> Result {
        var list: UnsafeMutablePointer<AvahiStringList>? = nil
        for key in txt.keys.sorted() {
            // A trailing NUL, not written, keeps the pointer non-nil for an empty value: given none,
            // Avahi writes `key` (a flag) instead of `key=`.
            let value = Array(txt[key, default: ""].utf8) + [0]
            list = value.withUnsafeBufferPointer { bytes in
                avahi_string_list_add_pair_arbitrary(list, key, bytes.baseAddress, bytes.count - 1)
            }
        }
        defer { avahi_string_list_free(list) }
        return body(list)
    }

    /// Reads a string list into a dictionary. A key without `=` maps to an empty value;
    /// for a repeated key the first entry wins (RFC 6763 §6.4).
    static func dictionary(from list: UnsafeMutablePointer<AvahiStringList>?) -> [String: String] {
        var result: [String: String] = [:]
        var entry = list
        while let current = entry {
            var key: UnsafeMutablePointer<CChar>? = nil
            var value: UnsafeMutablePointer<CChar>? = nil
            var size = 0
            if avahi_string_list_get_pair(current, &key, &value, &size) == 0, let key {
                let name = String(cString: key)
                let text = value.map { pointer in
                    String(decoding: UnsafeRawBufferPointer(start: pointer, count: size), as: UTF8.self)
                }
                if result[name] == nil { result[name] = text ?? "" }
                avahi_free(key)
                avahi_free(value)
            }
            entry = avahi_string_list_get_next(current)
        }
        return result
    }
}
