import Foundation
import SyncLayer
import SyncTesting
import Testing
import SyncCore

@Suite struct CommandLineTests {
    /// Runs `synclayer` with `arguments`, returning its exit status and standard output.
    func run(_ arguments: [String], input: String? = nil) async throws -> (status: Int32, output: String) {
        let child = try ChildProcess(executable: try synclayerExecutable(), arguments: arguments)
        var lines: [String] = []
        for await line in child.lines { lines.append(line) }
        return (await child.waitForExit(), lines.joined(separator: "\n"))
    }

    @Test func putGetQueryDeleteOnANodeDatabase() async throws {
        try await withTemporaryDirectory(prefix: "cli") { directory in
            let data = directory.file("n.sqlite")
            let put = try await run(["put", "--data", data, "todos", #"{"text":"Buy milk","done":false,"n":2}"#, "--id", "t1"])
            #expect(put.status == 0 && put.output == #"{"id":"t1"}"#)
            _ = try await run(["put", "--data", data, "todos", #"{"text":"Walk","done":true,"n":1}"#, "--id", "t2"])
            let merged = try await run(["put", "--data", data, "todos", #"{"done":true}"#, "--id", "t1", "--merge"])
            #expect(merged.status == 0)
            let get = try await run(["get", "--data", data, "todos", "t1"])
            #expect(get.output == #"{"data":{"done":true,"n":2,"text":"Buy milk"},"id":"t1"}"#)
            let query = try await run(["query", "--data", data, "todos", "--where", "done == true", "--order-by", "n"])
            #expect(query.output == #"[{"data":{"done":true,"n":1,"text":"Walk"},"id":"t2"},{"data":{"done":true,"n":2,"text":"Buy milk"},"id":"t1"}]"#)
            let count = try await run(["query", "--data", data, "todos", "--where", "text startsWith Bu", "--count"])
            #expect(count.output == "1")
            _ = try await run(["delete", "--data", data, "todos", "t1"])
            let gone = try await run(["get", "--data", data, "todos", "t1"])
            #expect(gone.status == 1)
            let status = try await run(["status", "--data", data, "--json"])
            let report = try JSONParser().parse(Array(status.output.utf8))
            #expect(report["collections"]?["todos"]?["count"] == 1)
            #expect(report["outbox"] == 4)
        }
    }

    @Test func badInputGivesAClearErrorAndAFailingStatus() async throws {
        try await withTemporaryDirectory(prefix: "cli") { directory in
            let data = directory.file("n.sqlite")
            let badJSON = try await run(["put", "--data", data, "todos", "{not json"])
            #expect(badJSON.status != 0)
            let badWhere = try await run(["query", "--data", data, "todos", "--where", "x ~~ 1"])
            #expect(badWhere.status != 0)
            let help = try await run(["--help"])
            #expect(help.status == 0 && help.output.contains("put") && help.output.contains("query"))
        }
    }
}
