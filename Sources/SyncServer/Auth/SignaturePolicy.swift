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
        let verdict = ChangeSigner.verify(change, holding: held)
        switch verdict {
        case .valid, .invalid: metrics.changeSignaturesChecked.add(1, ordering: .relaxed)
        case .unsigned, .held: break
        }
        let refusal = refusal(for: verdict, of: change)
        if refusal != nil { metrics.badSignatures.add(1, ordering: .relaxed) }
        return refusal
    }

    /// The changes among `changes` (those a frame carried, `nil` for an original-protocol write)
    /// that the proofs of their frames vouch for: a frame signature (``ChangeSigner/vouched(by:in:)``),
    /// or the connection's frame key, whose code over the frame's bytes opened (``FrameKey/opens(_:)``,
    /// checked as the frame was read): it vouches for its node's own changes in the frame. Those are
    /// accepted without checking their own signatures: one check per frame instead of one per
    /// change. A frame signature over changes of the signer's origin that are all held already is
    /// not checked (they are dropped as duplicates). A proof that does not hold vouches for nothing: each of
    /// its changes is then checked on its own, and refused if its own signature does not hold either.
    func vouched(_ changes: [Change?], by proofs: [(messages: Range<Int>, proof: FrameProof)], holding held: VersionVector,
                 counting metrics: ServerMetrics) -> Set<ChangeID> {
        var vouched: Set<ChangeID> = []
        for (range, proof) in proofs {
            let carried = changes[range].compactMap { $0 }
            switch proof {
            case .signature(let signature):
                guard let frame = ChangeSigner.vouched(by: signature, in: carried, holding: held) else { continue }
                metrics.frameSignaturesChecked.add(1, ordering: .relaxed)
                vouched.formUnion(frame)
            case .sealed(let node):
                vouched.formUnion(ChangeSigner.vouchable(carried, origin: node))
            }
        }
        return vouched
    }

    private func refusal(for verdict: ChangeSigner.Verdict, of change: Change) -> FrameError? {
        switch verdict {
        case .valid, .held:
            return nil
        case .unsigned:
            return self == .required ? FrameError(.unauthorized, "change \(change.id) is not signed by its origin") : nil
        case .invalid(let reason):
            return FrameError(.unauthorized, "change \(change.id) refused: \(reason)")
        }
    }
}

/// What vouches for a frame's changes of one origin: that origin's signature over them, or the
/// frame key of that node's connection, whose code over the frame opened (`Docs/Security.md`,
/// "Frame signatures" and "Frame keys").
enum FrameProof: Sendable {
    case signature(ChangeSignature)
    case sealed(by: NodeID)
}
