extension ServiceAdvertisement {
    /// Checks the limits DNS-SD puts on names and TXT entries.
    func validate() throws(DiscoveryError) {
        func invalid(_ message: String) -> DiscoveryError {
            DiscoveryError(code: .invalidAdvertisement, message: message)
        }
        if instanceName.isEmpty || instanceName.utf8.count > 63 {
            throw invalid("instance name must be 1 to 63 UTF-8 bytes, got \(instanceName.utf8.count)")
        }
        let labels = serviceType.split(separator: ".", omittingEmptySubsequences: false)
        guard labels.count == 2, labels[0].hasPrefix("_"), labels[0].utf8.count >= 2,
            labels[0].utf8.count <= 16, labels[1] == "_tcp" || labels[1] == "_udp"
        else {
            throw invalid("service type must look like _name._tcp, got \(serviceType)")
        }
        if port == 0 {
            throw invalid("port must not be 0")
        }
        if nodeID.isEmpty {
            throw invalid("TXT record must hold a non-empty '\(TXTKey.node)' key")
        }
        for (key, value) in txt {
            if key.isEmpty || key.contains("=") || !key.allSatisfy({ $0.isASCII && !$0.isNewline }) {
                throw invalid("TXT key '\(key)' must be non-empty printable ASCII without '='")
            }
            if key.utf8.count + 1 + value.utf8.count > 255 {
                throw invalid("TXT entry '\(key)' is longer than 255 bytes")
            }
        }
    }
}
