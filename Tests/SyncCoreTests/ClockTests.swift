import SyncCore
import SyncTesting
import Testing

@Suite struct ClockTests {
    @Test func readingsStrictlyIncreaseEvenWhenTimeStandsStillOrGoesBack() {
        var clock = HybridLogicalClock()
        var last = HLCTimestamp.zero
        for physical: UInt64 in [1000, 1000, 1000, 999, 500, 1001, 1001] {
            let reading = clock.now(physicalMillis: physical)
            #expect(reading > last)
            last = reading
        }
    }

    @Test func observingMovesTheClockPastARemoteReading() {
        var clock = HybridLogicalClock(maxDriftMillis: 60_000)
        let remote = HLCTimestamp(wallMillis: 10_030_000, counter: 4)
        let accepted = clock.observe(remote, physicalMillis: 10_000_000)
        #expect(accepted)
        let next = clock.now(physicalMillis: 10_000_000)
        #expect(next > remote)
    }

    @Test func aFastRemoteClockCannotDragThisOneBeyondTheDriftBound() {
        var clock = HybridLogicalClock(maxDriftMillis: 60_000)
        let anHourAhead = HLCTimestamp(wallMillis: 10_000_000 + 3_600_000)
        let accepted = clock.observe(anHourAhead, physicalMillis: 10_000_000)
        #expect(accepted == false)
        let next = clock.now(physicalMillis: 10_000_000)
        #expect(next.wallMillis <= 10_000_000 + 60_000 + 1)
        #expect(next < anHourAhead)
    }

    @Test func hexFormRoundTripsAndSortsLikeTheNumber() {
        let a = HLCTimestamp(wallMillis: 1_767_225_600_000, counter: 3)
        let b = HLCTimestamp(wallMillis: 1_767_225_600_001, counter: 0)
        #expect(HLCTimestamp(hexString: a.hexString) == a)
        #expect(a.hexString < b.hexString)
        #expect(HLCTimestamp(hexString: "xyz") == nil)
    }

    @Test func iso8601FormatsAndParses() {
        #expect(ISO8601.string(fromMillis: 1_767_225_600_123) == "2026-01-01T00:00:00.123Z")
        #expect(ISO8601.string(fromMillis: 0) == "1970-01-01T00:00:00.000Z")
        #expect(ISO8601.string(fromMillis: 1_709_251_199_999) == "2024-02-29T23:59:59.999Z")
        #expect(ISO8601.string(fromMillis: 253_402_300_799_999) == "9999-12-31T23:59:59.999Z")
        #expect(ISO8601.string(fromMillis: 253_402_300_800_000) == "10000-01-01T00:00:00.000Z")
        var generator = SplitMix64(seed: 8601)
        for _ in 0..<2_000 {
            let millis = generator.next() % 4_102_444_800_000  // before 2100
            #expect(ISO8601.millis(from: ISO8601.string(fromMillis: millis)) == millis)
        }
        #expect(ISO8601.millis(from: "2026-01-01T00:00:00.123Z") == 1_767_225_600_123)
        #expect(ISO8601.millis(from: "2026-01-01T01:00:00+01:00") == 1_767_225_600_000)
        #expect(ISO8601.millis(from: "2026-01-01T00:00:00.123456") == 1_767_225_600_123)
        #expect(ISO8601.millis(from: "2026-01-01") == 1_767_225_600_000)
        #expect(ISO8601.millis(from: "2024-02-29T12:00:00Z") == 1_709_208_000_000)
        #expect(ISO8601.millis(from: "yesterday") == nil)
        #expect(ISO8601.millis(from: "2026-13-01T00:00:00Z") == nil)
    }

    @Test func stampsOrderByClockThenOriginThenSequence() {
        let a = NodeID("a")!, b = NodeID("b")!
        let t = HLCTimestamp(wallMillis: 5)
        #expect(Stamp(hlc: t, origin: a, seq: 9) < Stamp(hlc: t.successor, origin: a, seq: 1))
        #expect(Stamp(hlc: t, origin: a, seq: 9) < Stamp(hlc: t, origin: b, seq: 1))
        #expect(Stamp(hlc: t, origin: a, seq: 1) < Stamp(hlc: t, origin: a, seq: 2))
        let stamp = Stamp(hlc: t, origin: b, seq: 7)
        #expect(Stamp(stamp.description) == stamp)
    }
}
