#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A mutex with a condition variable (POSIX), for the store's own threads to wait on.
///
/// The store's threads block in SQLite and on each other, never on Swift's cooperative pool, so
/// they need a lock they can sleep on. This is that lock, over pthreads, so that the store does not
/// pull in Foundation (whose `NSCondition` is the same thing with Foundation's start-up cost).
///
/// `@unchecked Sendable`: the mutex and condition live at stable heap addresses for the object's
/// whole life and pthreads makes every call on them thread-safe.
package final class Condition: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    package init() {
        mutex.initialize(to: pthread_mutex_t())
        condition.initialize(to: pthread_cond_t())
        precondition(pthread_mutex_init(mutex, nil) == 0 && pthread_cond_init(condition, nil) == 0,
                     "pthread mutex or condition could not be created")
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    package func lock() { pthread_mutex_lock(mutex) }
    package func unlock() { pthread_mutex_unlock(mutex) }
    /// Releases the lock, sleeps until signalled, and takes the lock again. Call with the lock held,
    /// in a loop that re-checks what it waits for (wake-ups can be spurious).
    package func wait() { pthread_cond_wait(condition, mutex) }
    package func signal() { pthread_cond_signal(condition) }
    package func broadcast() { pthread_cond_broadcast(condition) }
}
