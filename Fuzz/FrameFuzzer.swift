// libFuzzer entry for the frame decoder (built by scripts/fuzz with the SyncCore sources).
// Any input: decoding either fails with a FrameError or yields a frame that survives a round trip
// (encode, decode again, same frame); anything else stops the fuzzer.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzFrames(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    // The server's limits and the mesh's (larger frames and batches).
    for codec in [FrameCodec(), FrameCodec(maxFrameBytes: 8 << 20, maxDepth: 32, maxBatchCount: 10_000)] {
        guard let frame = try? codec.decode(bytes) else { continue }
        let again: Frame
        do {
            again = try codec.decode(codec.encode(frame))
        } catch {
            fatalError("a decoded frame does not decode after encoding: \(error)")
        }
        precondition(again == frame, "a frame changed in a round trip")
    }
    return 0
}
