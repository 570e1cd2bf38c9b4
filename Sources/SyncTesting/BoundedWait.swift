/// Whether `stream` yields an element that `matches` within `timeout`: a test waits for the event
/// itself, and still fails in bounded time when it never comes.
package func waitForElement<Element: Sendable>(in stream: AsyncStream<Element>, timeout: Duration = .seconds(20),
                                               where matches: @escaping @Sendable (Element) -> Bool) async -> Bool {
    await withTaskGroup(of: Bool.self) { group in
        group.addTask {
            for await element in stream where matches(element) { return true }
            return false
        }
        group.addTask {
            try? await Task.sleep(for: timeout)
            return false
        }
        let result = await group.next() ?? false
        group.cancelAll()
        return result
    }
}
