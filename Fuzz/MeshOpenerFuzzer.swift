// libFuzzer entry for the sealed mesh channel's opener (built by scripts/fuzz from the real
// MeshCipher.swift and Mesh+Refusal.swift, with swift-crypto's objects from `swift build`).
// The fuzzer plays the peer. The first input byte picks the game:
// - even: a stranger. The rest is a key message (36 bytes) then frames, each a 2-byte big-endian
//   length and its bytes. The key exchange either refuses or gives a channel; the stranger does not
//   know this link's keys, so every frame must be refused.
// - odd: a peer that completes the key exchange, with our team secret or (bit 1) another one. The
//   rest is plaintexts (each a 1-byte length and its bytes, up to 16), then edits applied to the
//   sealed frames (3 bytes each: flip a bit, truncate, swap, drop, replay, extend). The opener must
//   return exactly the plaintexts of the frames that arrive as sealed and in order, and refuse the
//   first one that does not (the link is closed there); with another secret it refuses the first.

import Crypto

let teamSecret = "correct horse battery staple"
let ours = MeshKeyExchange(secret: teamSecret, teamID: "fuzz-team")
let honestPeer = MeshKeyExchange(secret: teamSecret, teamID: "fuzz-team")
let outsider = MeshKeyExchange(secret: "another secret", teamID: "fuzz-team")

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzMeshOpener(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    var input = Array(UnsafeBufferPointer(start: data, count: size))[...]
    guard let mode = input.popFirst() else { return 0 }
    if mode & 1 == 0 {
        playStranger(input)
    } else {
        playPeer(input, sameSecret: mode & 2 == 0)
    }
    return 0
}

/// Any key message and frames from someone who does not hold this link's keys.
func playStranger(_ input: ArraySlice<UInt8>) {
    let keyMessage = Array(input.prefix(36))
    var rest = input.dropFirst(36)
    guard let cipher = try? ours.channel(peerKeyMessage: keyMessage) else { return }
    while rest.count >= 2 {
        let length = Int(rest[rest.startIndex]) << 8 | Int(rest[rest.startIndex + 1])
        let frame = rest.dropFirst(2).prefix(length)
        rest = rest.dropFirst(2 + length)
        if let plaintext = try? cipher.open(frame) {
            fatalError("a frame from a stranger opened: \(frame.count) bytes to \(plaintext.count)")
        }
    }
}

/// An honest peer's sealed frames, edited on the way.
func playPeer(_ input: ArraySlice<UInt8>, sameSecret: Bool) {
    let peer = sameSecret ? honestPeer : outsider
    var rest = input
    var plaintexts: [[UInt8]] = []
    while plaintexts.count < 16, let length = rest.popFirst() {
        plaintexts.append(Array(rest.prefix(Int(length))))
        rest = rest.dropFirst(Int(length))
    }
    let opener: MeshCipher, sealer: MeshCipher
    do {
        opener = try ours.channel(peerKeyMessage: peer.keyMessage)
        sealer = try peer.channel(peerKeyMessage: ours.keyMessage)
    } catch {
        fatalError("a valid key exchange was refused: \(error)")
    }
    let sealed = plaintexts.map { sealer.seal($0) }
    var frames = sealed
    while rest.count >= 3, !frames.isEmpty {
        let op = rest.removeFirst(), a = Int(rest.removeFirst()), b = Int(rest.removeFirst())
        let index = a % frames.count
        switch op % 6 {
        case 0 where !frames[index].isEmpty: frames[index][b % frames[index].count] ^= 1 << (op >> 3 & 7)
        case 1: frames[index] = Array(frames[index].prefix(b % (frames[index].count + 1)))
        case 2: frames.swapAt(index, b % frames.count)
        case 3: frames.remove(at: index)
        case 4: frames.insert(frames[index], at: b % (frames.count + 1))
        case 5: frames[index].append(UInt8(b))
        default: break
        }
    }
    for (position, frame) in frames.enumerated() {
        let intact = sameSecret && position < sealed.count && frame == sealed[position]
        do {
            let plaintext = try opener.open(frame)
            guard intact else { fatalError("frame \(position) opened but was altered, moved or sealed under another secret") }
            guard plaintext == plaintexts[position] else { fatalError("frame \(position) opened to other bytes") }
        } catch {
            guard !intact else { fatalError("intact frame \(position) refused: \(error)") }
            return  // the session closes the link at the first refusal
        }
    }
}
