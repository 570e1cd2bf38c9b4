/// How much a returned write survives.
public enum Durability: String, Sendable, Hashable, CaseIterable {
    /// A returned write survives the process being killed (`kill -9`): WAL with `synchronous=NORMAL`.
    case processCrash
    /// A returned write also survives power loss: WAL with `synchronous=FULL` (an fsync per commit,
    /// shared by concurrent writers through group commit).
    case powerLoss
}
