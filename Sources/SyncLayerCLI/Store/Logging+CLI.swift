import Logging
import SyncCore

/// A logger for commands that should print only warnings and errors.
func quietLogger() -> Logger {
    var logger = Logger(label: "synclayer")
    logger.logLevel = .warning
    return logger
}
