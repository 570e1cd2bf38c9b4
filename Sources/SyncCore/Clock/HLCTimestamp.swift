/// A hybrid logical clock reading: wall-clock milliseconds and a logical counter, packed in 64 bits.
///
/// Readings order by wall time, then counter. The text form (``hexString``) is 16 lowercase hex
/// digits, so text order equals numeric order.
package struct HLCTimestamp: Hashable, Comparable, Sendable {
    /// `wallMillis << 16 | counter`.
    package let rawValue: UInt64

    /// The largest wall time a reading can carry (year 10889).
    package static let maxWallMillis: UInt64 = (1 << 48) - 1

    /// The reading before every other.
    package static let zero = HLCTimestamp(rawValue: 0)

    package init(rawValue: UInt64) {
        self.rawValue = rawValue
    }

    /// A reading at `wallMillis` (clamped to ``maxWallMillis``) with `counter`.
    package init(wallMillis: UInt64, counter: UInt16 = 0) {
        self.rawValue = min(wallMillis, Self.maxWallMillis) << 16 | UInt64(counter)
    }

    /// Milliseconds since the Unix epoch.
    package var wallMillis: UInt64 { rawValue >> 16 }

    /// The logical counter that orders readings within one millisecond.
    package var counter: UInt16 { UInt16(truncatingIfNeeded: rawValue) }

    /// The next reading after this one (the counter carries into the wall time).
    package var successor: HLCTimestamp {
        rawValue == .max ? self : HLCTimestamp(rawValue: rawValue + 1)
    }

    package static func < (lhs: HLCTimestamp, rhs: HLCTimestamp) -> Bool {
        lhs.rawValue < rhs.rawValue
    }

    /// 16 lowercase hex digits.
    package var hexString: String {
        String(unsafeUninitializedCapacity: 16) { buffer in
            for index in 0..<16 { buffer[index] = hexDigit(index) }
            return 16
        }
    }

    /// Appends the 16 lowercase hex digits of ``hexString`` to `out`, without making a string.
    package func appendHex(to out: inout [UInt8]) {
        for index in 0..<16 { out.append(hexDigit(index)) }
    }

    /// The ASCII hex digit at `index` (0 the most significant) of the 16.
    private func hexDigit(_ index: Int) -> UInt8 {
        let digits: StaticString = "0123456789abcdef"
        return digits.utf8Start[Int((rawValue >> UInt64(60 - 4 * index)) & 0xF)]
    }

    /// Parses the 16-hex-digit form; `nil` for anything else.
    package init?(hexString: some StringProtocol) {
        guard hexString.utf8.count == 16, let raw = UInt64(hexString, radix: 16) else { return nil }
        self.rawValue = raw
    }
}

extension HLCTimestamp: CustomStringConvertible {
    package var description: String { hexString }
}
