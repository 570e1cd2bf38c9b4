/// Word-at-a-time scanning for the bytes a JSON string literal treats specially: a quote, a
/// backslash or a control character. Every string the server reads or writes is scanned for them,
/// most of them several times, so the scan goes eight bytes at a time.
enum PlainRun {
    private static let ones: UInt64 = 0x0101_0101_0101_0101
    private static let highs: UInt64 = 0x8080_8080_8080_8080

    /// From `start`, skips whole words of eight bytes that hold no special byte and stops at the
    /// first word that may hold one, or fewer than eight bytes before `end`. Returns where it
    /// stopped (the caller goes on byte by byte) and whether a skipped byte was 0x80 or above.
    static func skip(_ base: UnsafePointer<UInt8>, from start: Int, to end: Int) -> (index: Int, nonASCII: Bool) {
        var index = start
        var seen: UInt64 = 0
        while index + 8 <= end {
            let word = UnsafeRawPointer(base + index).loadUnaligned(as: UInt64.self)
            // A byte below 0x20: `(w - 0x20…) & ~w` sets its high bit. A quote or a backslash: a zero
            // byte of `w ^ 0x22…` or `w ^ 0x5C…`, found the same way. Exact as a test for any: a
            // borrow can only mark a byte above one that matched.
            let quotes = word ^ (0x22 &* ones), backslashes = word ^ (0x5C &* ones)
            let found = ((word &- 0x20 &* ones) & ~word) | ((quotes &- ones) & ~quotes) | ((backslashes &- ones) & ~backslashes)
            if found & highs != 0 { break }
            seen |= word
            index += 8
        }
        return (index, seen & highs != 0)
    }

    /// Whether `byte` is one a string literal escapes.
    @inline(__always)
    static func isSpecial(_ byte: UInt8) -> Bool {
        byte < 0x20 || byte == 0x22 || byte == 0x5C
    }
}
