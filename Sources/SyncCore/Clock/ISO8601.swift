/// ISO 8601 timestamps as the original protocol carries them, without Foundation.
package enum ISO8601 {
    /// `2026-11-23T04:12:12.345Z` for a time in milliseconds since the Unix epoch.
    package static func string(fromMillis millis: UInt64) -> String {
        let days = Int64(millis / 86_400_000)
        let msOfDay = Int(millis % 86_400_000)
        let (year, month, day) = civilDate(fromDays: days)
        let hour = msOfDay / 3_600_000
        let minute = msOfDay / 60_000 % 60
        let second = msOfDay / 1000 % 60
        let ms = msOfDay % 1000
        // Written into the string's own storage: this runs for every change frame the server sends.
        // A year past 9999 takes as many digits as it needs.
        let yearDigits = year <= 9999 ? 4 : String(year).utf8.count
        let parts: [(value: Int, width: Int, then: UInt8)] = [
            (Int(year), yearDigits, UInt8(ascii: "-")), (month, 2, UInt8(ascii: "-")), (day, 2, UInt8(ascii: "T")), (hour, 2, UInt8(ascii: ":")),
            (minute, 2, UInt8(ascii: ":")), (second, 2, UInt8(ascii: ".")), (ms, 3, UInt8(ascii: "Z")),
        ]
        return String(unsafeUninitializedCapacity: yearDigits + 20) { buffer in
            var end = 0
            for part in parts {
                var value = part.value
                end += part.width
                for index in stride(from: end - 1, through: end - part.width, by: -1) {
                    buffer[index] = UInt8(48 + value % 10)
                    value /= 10
                }
                buffer[end] = part.then
                end += 1
            }
            return end
        }
    }

    /// Milliseconds since the Unix epoch for an ISO 8601 date-time, `nil` if it is not one.
    ///
    /// Accepts `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM[:SS[.fff…]]` with `Z`, `±HH:MM`, `±HHMM` or no zone;
    /// a time without a zone is taken as UTC (the original SDK sent device-local times without one).
    package static func millis(from text: some StringProtocol) -> UInt64? {
        let bytes = Array(text.utf8)
        var index = 0
        func number(_ count: Int) -> Int? {
            guard bytes.count - index >= count else { return nil }
            var value = 0
            for _ in 0..<count {
                let byte = bytes[index]
                guard byte >= 48, byte <= 57 else { return nil }
                value = value * 10 + Int(byte - 48)
                index += 1
            }
            return value
        }
        func expect(_ char: Character) -> Bool {
            guard index < bytes.count, bytes[index] == char.asciiValue else { return false }
            index += 1
            return true
        }
        guard let year = number(4), expect("-"), let month = number(2), expect("-"), let day = number(2),
              (1...12).contains(month), (1...31).contains(day), year >= 1970 else { return nil }
        var hour = 0, minute = 0, second = 0, millis = 0, offsetMinutes = 0
        if index < bytes.count {
            guard expect("T") || expect(" "), let h = number(2), expect(":"), let m = number(2) else { return nil }
            hour = h; minute = m
            if expect(":") {
                guard let s = number(2) else { return nil }
                second = s
                if expect(".") || expect(",") {
                    var digits = 0
                    while index < bytes.count, bytes[index] >= 48, bytes[index] <= 57 {
                        if digits < 3 { millis = millis * 10 + Int(bytes[index] - 48) }
                        digits += 1
                        index += 1
                    }
                    guard digits > 0 else { return nil }
                    for _ in digits..<max(digits, 3) { millis *= 10 }
                }
            }
            guard hour < 24, minute < 60, second < 61 else { return nil }
            if index < bytes.count {
                if expect("Z") || expect("z") {
                } else if index < bytes.count, bytes[index] == 43 || bytes[index] == 45 {
                    let sign = bytes[index] == 45 ? -1 : 1
                    index += 1
                    guard let oh = number(2) else { return nil }
                    _ = expect(":")
                    guard let om = number(2), oh < 24, om < 60 else { return nil }
                    offsetMinutes = sign * (oh * 60 + om)
                } else {
                    return nil
                }
            }
            guard index == bytes.count else { return nil }
        }
        let days = daysFromCivil(year: Int64(year), month: month, day: day)
        let total = days * 86_400_000 + Int64(hour * 3_600_000 + minute * 60_000 + second * 1000 + millis) - Int64(offsetMinutes) * 60_000
        return total >= 0 ? UInt64(total) : nil
    }

    // Howard Hinnant's civil-from-days and days-from-civil algorithms.
    private static func civilDate(fromDays days: Int64) -> (Int64, Int, Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = Int(doy - (153 * mp + 2) / 5 + 1)
        let month = Int(mp < 10 ? mp + 3 : mp - 9)
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    private static func daysFromCivil(year: Int64, month: Int, day: Int) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let m = Int64(month)
        let doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + Int64(day) - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }
}
