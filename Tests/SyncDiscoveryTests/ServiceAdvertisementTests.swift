import SyncDiscovery
import Testing

@Suite("ServiceAdvertisement and the API that needs no daemon")
struct ServiceAdvertisementTests {
    let good = ServiceAdvertisement(
        instanceName: "Laptop", port: 7000, nodeID: "n-1", protocolVersion: "1", teamID: "team", hasUplink: true)

    @Test func standardTXTKeys() {
        #expect(good.serviceType == "_synclayer._tcp")
        #expect(good.txt == ["node": "n-1", "proto": "1", "team": "team", "uplink": "1"])
        #expect(good.nodeID == "n-1")
        #expect(good.hasUplink)
    }

    @Test(arguments: [
        ServiceAdvertisement(instanceName: "x", port: 1, txt: ["proto": "1"]),
        ServiceAdvertisement(instanceName: "", port: 1, txt: ["node": "n"]),
        ServiceAdvertisement(instanceName: String(repeating: "a", count: 64), port: 1, txt: ["node": "n"]),
        ServiceAdvertisement(serviceType: "synclayer.tcp", instanceName: "x", port: 1, txt: ["node": "n"]),
        ServiceAdvertisement(instanceName: "x", port: 0, txt: ["node": "n"]),
        ServiceAdvertisement(instanceName: "x", port: 1, txt: ["node": "n", "a=b": "c"]),
        ServiceAdvertisement(instanceName: "x", port: 1, txt: ["node": "n", "big": String(repeating: "v", count: 260)]),
    ])
    func invalidAdvertisementIsRejectedAtStart(_ advertisement: ServiceAdvertisement) {
        let discovery = AvahiDiscovery(advertisement: advertisement)
        defer { discovery.stop() }
        #expect {
            try discovery.start()
        } throws: { error in
            (error as? DiscoveryError)?.code == .invalidAdvertisement
        }
    }

    @Test func nodeIDCannotChange() {
        let discovery = AvahiDiscovery(advertisement: good)
        defer { discovery.stop() }
        var txt = good.txt
        txt["node"] = "other"
        #expect(throws: DiscoveryError.self) { try discovery.updateTXT(txt) }
        #expect(discovery.advertisement.nodeID == "n-1")
    }

    @Test func uplinkCanChangeBeforeStart() throws {
        let discovery = AvahiDiscovery(advertisement: good)
        defer { discovery.stop() }
        try discovery.setUplink(false)
        #expect(discovery.advertisement.txt["uplink"] == "0")
    }

    @Test func startAfterStopIsAnError() {
        let discovery = AvahiDiscovery(advertisement: good)
        discovery.stop()
        discovery.stop()
        #expect {
            try discovery.start()
        } throws: { error in
            (error as? DiscoveryError)?.code == .stopped
        }
    }
}
