/// A closure to keep behind a lock (`Mutex`, ``Locked``) and call later: store this, not the
/// closure itself.
///
/// A function value kept directly as a lock's value is stored in its most general form, and every
/// `withLock { $0 }` that reads it hands the closure `inout`, which wraps it in a reabstraction
/// thunk and writes the wrapped one back. So each call adds a layer: every call is slower and
/// deeper on the stack than the last, without bound (measured: a store's commit timer made a
/// node's writes 30 % slower within minutes, and would have run out of stack). A class reference
/// behind the lock is read as it is.
package final class Callback<Argument: Sendable>: Sendable {
    private let body: @Sendable (Argument) -> Void

    package init(_ body: @escaping @Sendable (Argument) -> Void) {
        self.body = body
    }

    package func callAsFunction(_ argument: Argument) {
        body(argument)
    }
}

/// ``Callback`` for an `async` closure without argument.
package final class AsyncCallback: Sendable {
    private let body: @Sendable () async -> Void

    package init(_ body: @escaping @Sendable () async -> Void) {
        self.body = body
    }

    package func callAsFunction() async {
        await body()
    }
}
