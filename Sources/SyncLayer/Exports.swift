@_exported import SyncCore
@_exported import SyncStore
