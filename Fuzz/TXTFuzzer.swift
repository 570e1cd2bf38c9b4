// libFuzzer entry for the TXT record path (built by scripts/fuzz with the SyncDiscovery sources that
// need neither Logging nor the Avahi session, linked with libavahi-common).
// Input: raw DNS TXT rdata, as a peer on the LAN sends it. libavahi-common parses it into a string
// list as the daemon does; then our code reads it. Properties: the dictionary read from a list,
// written back as a list and read again, is the same; a peer is made from it exactly when the node
// id is present, non-empty, at most 128 UTF-8 bytes and not our own.

import CAvahi

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTXT(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    var list: UnsafeMutablePointer<AvahiStringList>? = nil
    guard avahi_string_list_parse(data, size, &list) == 0 else { return 0 }
    defer { avahi_string_list_free(list) }
    let txt = TXTRecord.dictionary(from: list)
    let again = TXTRecord.withStringList(txt) { TXTRecord.dictionary(from: $0) }
    guard again == txt else { fatalError("a TXT dictionary changed in a round trip: \(txt) became \(again)") }

    let own = "own-node"
    let peer = DiscoveredPeer.resolved(txt: txt, instanceName: "fuzz", address: "127.0.0.1", port: 7070, interfaceIndex: 1, ownNodeID: own)
    let nodeID = txt[TXTKey.node] ?? ""
    let usable = !nodeID.isEmpty && nodeID.utf8.count <= 128 && nodeID != own
    guard (peer != nil) == usable else { fatalError("node id \(nodeID.debugDescription) was \(usable ? "refused" : "accepted")") }
    if let peer, peer.nodeID != nodeID || peer.txt != txt { fatalError("the peer does not carry its node id and TXT record") }
    return 0
}
