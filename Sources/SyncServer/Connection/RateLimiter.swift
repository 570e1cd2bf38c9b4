/// A token bucket: `rate` frames per second sustained, `burst` at once. Pure: the caller gives the time.
package struct RateLimiter: Sendable, Hashable {
    package let rate: Double
    package let burst: Double
    private var tokens: Double
    private var last: UInt64?

    package init(rate: Double, burst: Double) {
        self.rate = rate
        self.burst = burst
        self.tokens = burst
    }

    /// Takes one token at `nanos` (a monotonic time); `false` when the bucket is empty.
    package mutating func allow(atNanos nanos: UInt64) -> Bool {
        if let last, nanos > last {
            tokens = min(burst, tokens + Double(nanos - last) / 1e9 * rate)
        }
        last = max(last ?? nanos, nanos)
        guard tokens >= 1 else { return false }
        tokens -= 1
        return true
    }
}
