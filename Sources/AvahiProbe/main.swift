// avahi-probe: starts an AvahiDiscovery and prints its events, for manual checks and for the
// test that runs it with no reachable daemon. Exits after --seconds, or at the first
// daemonUnavailable when --exit-when-unavailable is given. Exit status 0 unless arguments are bad.
//
//   avahi-probe --node ID [--name NAME] [--port N] [--seconds S] [--ipv4] [--exit-when-unavailable]
import SyncDiscovery
import Foundation

var options: [String: String] = [:]
var flags: Set<String> = []
var arguments = CommandLine.arguments.dropFirst()
while let argument = arguments.popFirst() {
    switch argument {
    case "--ipv4", "--exit-when-unavailable": flags.insert(argument)
    case "--node", "--name", "--port", "--seconds":
        guard let value = arguments.popFirst() else {
            FileHandle.standardError.write(Data("\(argument) needs a value\n".utf8))
            exit(2)
        }
        options[argument] = value
    default:
        FileHandle.standardError.write(Data("unknown argument \(argument)\n".utf8))
        exit(2)
    }
}

let nodeID = options["--node"] ?? "probe-\(ProcessInfo.processInfo.processIdentifier)"
let seconds = Double(options["--seconds"] ?? "5") ?? 5
let discovery = AvahiDiscovery(
    advertisement: ServiceAdvertisement(
        instanceName: options["--name"] ?? "avahi-probe",
        port: UInt16(options["--port"] ?? "7777") ?? 7777,
        nodeID: nodeID, protocolVersion: "1", teamID: "probe", hasUplink: false),
    ipFamily: flags.contains("--ipv4") ? .ipv4 : .any)

func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

do {
    try discovery.start()
    say("started")
} catch {
    say("start failed: \(error.code): \(error.message)")
    exit(0)
}

let exitWhenUnavailable = flags.contains("--exit-when-unavailable")
await withTaskGroup(of: Void.self) { group in
    group.addTask {
        for await event in discovery.events {
            say("event: \(event)")
            if exitWhenUnavailable, case .daemonUnavailable = event { return }
        }
    }
    group.addTask {
        try? await Task.sleep(for: .seconds(seconds))
    }
    await group.next()
    group.cancelAll()
    discovery.stop()
}
say("stopped")
