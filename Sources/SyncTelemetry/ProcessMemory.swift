#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The process's resident memory, from `/proc/self/status` (Linux; `nil` elsewhere).
package enum ProcessMemory {
    /// `VmRSS` in bytes, or `nil` if it cannot be read.
    package static func residentBytes() -> Int? {
        let fd = open("/proc/self/status", O_RDONLY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while bytes.count < 1 << 16 {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            guard count > 0 else { break }
            bytes.append(contentsOf: chunk[0..<count])
        }
        return kibibytes(field: "VmRSS:", in: bytes).map { $0 * 1024 }
    }

    /// The number after `field` on its line of a `/proc/*/status` text, in kB as the kernel writes it.
    static func kibibytes(field: String, in text: [UInt8]) -> Int? {
        let key = Array(field.utf8)
        var lineStart = 0
        while lineStart < text.count {
            let lineEnd = text[lineStart...].firstIndex(of: 0x0A) ?? text.count
            if text[lineStart..<lineEnd].starts(with: key) {
                var value = 0, seen = false
                for byte in text[(lineStart + key.count)..<lineEnd] {
                    if byte >= 0x30 && byte <= 0x39 {
                        value = value * 10 + Int(byte - 0x30)
                        seen = true
                    } else if seen {
                        break
                    }
                }
                return seen ? value : nil
            }
            lineStart = lineEnd + 1
        }
        return nil
    }
}
