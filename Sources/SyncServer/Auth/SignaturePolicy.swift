import SyncCore

/// Which changes the server accepts without a valid signature of their origin.
///
/// Every change of our protocol names its origin; a token lets a client write, not speak for other
/// nodes. Without this check a client with a valid token (a member relaying as gateway, or one that
/// claims another node's id) could upload a change in another node's name, or one whose change id
/// another node will use, so that the real change would be dropped as a duplicate.
public enum SignaturePolicy: Sendable, Hashable {
    /// Every change with a change id must carry a valid signature of its origin (our nodes always
    /// sign). Writes of the original protocol carry no change id; the server stamps and signs them.
    case required
    /// A signature is checked when present, and an unsigned change is accepted: for clients of our
    /// protocol that do not sign (none of ours; tests that speak the protocol by hand).
    case checkedWhenPresent

    /// Why `change` is refused, or `nil` when it is accepted (about 90 µs when signed; nothing when
    /// the server `held` it already, a duplicate kept as first committed); a refusal is counted in
    /// `badSignatures`.
    func refusal(of change: Change, holding held: VersionVector, counting metrics: ServerMetrics) -> FrameError? {
        let refusal = check(change, holding: held)
        if refusal != nil { metrics.badSignatures.add(1, ordering: .relaxed) }
        return refusal
    }

    private func check(_ change: Change, holding held: VersionVector) -> FrameError? {
        switch ChangeSigner.verify(change, holding: held) {
        case .valid, .held:
            return nil
        case .unsigned:
            return self == .required ? FrameError(.unauthorized, "change \(change.id) is not signed by its origin") : nil
        case .invalid(let reason):
            return FrameError(.unauthorized, "change \(change.id) refused: \(reason)")
        }
    }
}
