/// One browsed service instance: the same node can show up on several interfaces and protocols.
struct InstanceKey: Hashable, Comparable, Sendable, CustomStringConvertible {
    var interfaceIndex: Int32
    var ipProtocol: Int32
    var name: String

    static func < (lhs: InstanceKey, rhs: InstanceKey) -> Bool {
        (lhs.name, lhs.interfaceIndex, lhs.ipProtocol) < (rhs.name, rhs.interfaceIndex, rhs.ipProtocol)
    }

    var description: String { "\(name)@if\(interfaceIndex)/proto\(ipProtocol)" }
}
