#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import SyncCore

/// Standard input, output and error as file descriptors 0, 1 and 2, unbuffered: each line goes out
/// in whole `write` calls (a parent reading our output line by line never sees half a line).
enum StandardStreams {
    /// Writes `text` to standard error as it is.
    static func writeError(_ text: String) {
        writeAll(2, text)
    }

    /// Reads standard input to its end.
    static func readInput() -> String {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(0, $0.baseAddress!, $0.count) }
            if count > 0 {
                bytes.append(contentsOf: chunk[0..<count])
            } else if count == 0 || errno != EINTR {
                break
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func writeAll(_ descriptor: Int32, _ text: String) {
        let bytes = Array(text.utf8)
        bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
                if written < 0 && errno == EINTR { continue }
                if written <= 0 { return }
                offset += written
            }
        }
    }
}

/// Writes whole lines to standard output with one `write` call each, unbuffered.
final class LineWriter: Sendable {
    func line(_ text: String) {
        StandardStreams.writeAll(1, text + "\n")
    }
}

extension String {
    /// The string with spaces added in front up to `width` characters.
    func leftPad(_ width: Int) -> String { String(repeating: " ", count: max(0, width - count)) + self }
    /// The string with spaces added after it up to `width` characters.
    func rightPad(_ width: Int) -> String { self + String(repeating: " ", count: max(0, width - count)) }
}

extension StringProtocol {
    /// The text without white space or line breaks at either end.
    var trimmed: String { trimmed(where: \.isWhitespace) }

    /// The text without the characters `isTrimmed` picks at either end.
    func trimmed(where isTrimmed: (Character) -> Bool) -> String {
        String(drop(while: isTrimmed).reversed().drop(while: isTrimmed).reversed())
    }
}
