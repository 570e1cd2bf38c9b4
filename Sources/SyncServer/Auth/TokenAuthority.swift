import Crypto
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import SyncCore

/// Checks bearer tokens and says what each may do.
///
/// Tokens are compared by their SHA-256 digests in constant time, so neither the comparison's
/// duration nor the logs reveal a token. A server without tokens is open (every right, for local
/// development), and says so in its log.
public struct TokenAuthority: Sendable {
    private let entries: [(digest: [UInt8], rights: TokenRights)]
    /// Whether any token is required.
    public let isOpen: Bool

    /// An authority over `tokens` (token → rights); empty means open.
    public init(tokens: [String: TokenRights]) {
        entries = tokens.map { (Array(SHA256.hash(data: Array($0.key.utf8))), $0.value) }
        isOpen = tokens.isEmpty
    }

    /// An open authority: everyone has every right.
    public static let open = TokenAuthority(tokens: [:])

    /// The rights of `token`, or `nil` when it is unknown (always every right when open).
    public func rights(for token: String?) -> TokenRights? {
        if isOpen { return .everything }
        guard let token else { return nil }
        let digest = Array(SHA256.hash(data: Array(token.utf8)))
        var found: TokenRights?
        for entry in entries {
            var difference: UInt8 = 0
            for index in 0..<digest.count { difference |= digest[index] ^ entry.digest[index] }
            if difference == 0 { found = entry.rights }
        }
        return found
    }

    /// Reads a token file:
    /// `{"tokens": {"<token>": {"name": "alice", "read": ["*"], "write": ["todos"]}}}`.
    public static func load(path: String) throws -> TokenAuthority {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ServerError(.configuration, "cannot read the token file \(path)")
        }
        let root: JSONValue
        do {
            root = try JSONParser().parse(Array(data))
        } catch {
            throw ServerError(.configuration, "the token file \(path) is not JSON: \(error)")
        }
        guard let tokens = root["tokens"]?.objectValue else {
            throw ServerError(.configuration, "the token file needs {\"tokens\": {\"<token>\": {\"read\": [...], \"write\": [...]}}}")
        }
        var result: [String: TokenRights] = [:]
        for (token, spec) in tokens {
            guard token.utf8.count >= 8 else { throw ServerError(.configuration, "tokens must be at least 8 characters") }
            func collections(_ key: String) throws -> TokenRights.Collections {
                guard let list = spec[key]?.arrayValue else { return .only([]) }
                var names = Set<String>()
                for item in list {
                    guard let name = item.stringValue else { throw ServerError(.configuration, "\(key) lists collection names") }
                    if name == "*" { return .all }
                    if let problem = Identifiers.problem(withCollection: name) { throw ServerError(.configuration, problem) }
                    names.insert(name)
                }
                return .only(names)
            }
            let name = spec["name"]?.stringValue ?? "token-\(result.count + 1)"
            result[token] = TokenRights(name: name, read: try collections("read"), write: try collections("write"))
        }
        return TokenAuthority(tokens: result)
    }
}
