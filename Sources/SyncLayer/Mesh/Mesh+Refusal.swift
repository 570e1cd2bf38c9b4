import SyncCore
extension Mesh {
    /// Why a link is refused or closed.
    ///
    /// In a file of its own so that the mesh opener's fuzzer (`Fuzz/MeshOpenerFuzzer.swift`) can
    /// compile it with `MeshCipher.swift` and without the rest of the mesh.
    struct Refusal: Error, CustomStringConvertible {
        let description: String
    }
}
