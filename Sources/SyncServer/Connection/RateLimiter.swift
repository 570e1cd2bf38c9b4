/// A token bucket: `rate` frames per second sustained, `burst` at once. Pure: the caller gives the time.
public struct RateLimiter: Sendable, Hashable {
    public let rate: Double
    public let burst: Double
    private var tokens: Double
    private var last: UInt64?

    public init(rate: Double, burst: Double) {
        self.rate = rate
        self.burst = burst
        self.tokens = burst
    }

    /// Takes one token at `nanos` (a monotonic time); `false` when the bucket is empty.
    public mutating func allow(atNanos nanos: UInt64) -> Bool {
        if let last, nanos > last {
            tokens = min(burst, tokens + Double(nanos - last) / 1e9 * rate)
        }
        last = max(last ?? nanos, nanos)
        guard tokens >= 1 else { return false }
        tokens -= 1
        return true
    }
}
