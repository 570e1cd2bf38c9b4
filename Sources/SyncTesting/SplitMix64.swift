/// A small, fast, seedable random number generator: the same seed gives the same sequence on every
/// machine, so property tests and chaos runs can be replayed from their seed.
package struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    package init(seed: UInt64) {
        state = seed
    }

    package mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// The seed for a randomized test: `SYNCLAYER_SEED` from the environment when set, else `fallback`.
package func testSeed(fallback: UInt64) -> UInt64 {
    if let text = ProcessInfoEnvironment.value("SYNCLAYER_SEED"), let seed = UInt64(text) { return seed }
    return fallback
}
