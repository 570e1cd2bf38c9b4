extension Duration {
    /// The duration in whole nanoseconds (saturating is not needed: durations here are seconds to hours).
    var nanosecondsValue: Int64 {
        components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000
    }
}
