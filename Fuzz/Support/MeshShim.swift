// Stands in for SyncLayer's `Mesh` class in the mesh opener's fuzz build, which compiles the real
// `MeshCipher.swift` and `Mesh+Refusal.swift` without the rest of the mesh (links, sessions,
// discovery). Only the name is needed: `Mesh.Refusal` is declared in an extension.
final class Mesh: Sendable {}
