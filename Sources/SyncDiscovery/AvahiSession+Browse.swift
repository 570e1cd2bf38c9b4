import CAvahi
import Logging

extension AvahiSession {
    /// Starts browsing our service type, once the client is running.
    func browse(on client: OpaquePointer) {
        guard browser == nil else { return }
        browser = avahi_service_browser_new(
            client, AvahiIfIndex(AVAHI_IF_UNSPEC), ipFamily.avahiProtocol, serviceType, nil, AvahiLookupFlags(0),
            { browser, interface, proto, event, name, type, domain, flags, context in
                AvahiSession.from(context).browserEvent(
                    browser, interface, proto, event, name, type, domain, flags)
            },
            context)
        if browser == nil {
            logger.error(
                "cannot browse", metadata: ["synclayer.avahi.error": "\(Self.errorText(avahi_client_errno(client)))"])
        }
    }

    func browserEvent(
        _ browser: OpaquePointer?, _ interface: AvahiIfIndex, _ proto: AvahiProtocol, _ event: AvahiBrowserEvent,
        _ name: UnsafePointer<CChar>?, _ type: UnsafePointer<CChar>?, _ domain: UnsafePointer<CChar>?,
        _ flags: AvahiLookupResultFlags
    ) {
        switch event {
        case AVAHI_BROWSER_NEW:
            guard let name, let type, let browser else { return }
            let key = InstanceKey(interfaceIndex: interface, ipProtocol: proto, name: String(cString: name))
            // Our own service: the browser sees it too.
            if flags.rawValue & AVAHI_LOOKUP_RESULT_OUR_OWN.rawValue != 0 { return }
            guard resolvers[key] == nil else { return }
            // The resolver stays open: it reports again when the peer's TXT record changes.
            let resolver = avahi_service_resolver_new(
                avahi_service_browser_get_client(browser), interface, proto, name, type, domain,
                ipFamily.avahiProtocol, AvahiLookupFlags(0),
                { resolver, interface, proto, event, name, _, _, _, address, port, txt, _, context in
                    AvahiSession.from(context).resolverEvent(
                        resolver, interface, event, name, address, port, txt)
                },
                context)
            guard let resolver else {
                logger.debug("cannot resolve", metadata: ["synclayer.avahi.instance": "\(key)"])
                return
            }
            resolvers[key] = resolver
            resolverKeys[resolver] = key
        case AVAHI_BROWSER_REMOVE:
            guard let name else { return }
            let key = InstanceKey(interfaceIndex: interface, ipProtocol: proto, name: String(cString: name))
            if let resolver = resolvers.removeValue(forKey: key) {
                resolverKeys[resolver] = nil
                avahi_service_resolver_free(resolver)
            }
            emit(peers.remove(key))
        case AVAHI_BROWSER_FAILURE:
            guard availability == .available, let browser else { return }
            let number = avahi_client_errno(avahi_service_browser_get_client(browser))
            logger.warning("avahi browser failed", metadata: ["synclayer.avahi.error": "\(Self.errorText(number))"])
        default:
            break  // CACHE_EXHAUSTED, ALL_FOR_NOW
        }
    }

    func resolverEvent(
        _ resolver: OpaquePointer?, _ interface: AvahiIfIndex, _ event: AvahiResolverEvent,
        _ name: UnsafePointer<CChar>?, _ address: UnsafePointer<AvahiAddress>?, _ port: UInt16,
        _ txtList: UnsafeMutablePointer<AvahiStringList>?
    ) {
        guard let resolver, let key = resolverKeys[resolver] else { return }
        guard event == AVAHI_RESOLVER_FOUND else {
            // A timeout (the peer may still be probing); the resolver keeps trying.
            let number = avahi_client_errno(avahi_service_resolver_get_client(resolver))
            logger.debug(
                "resolve failed for now",
                metadata: ["synclayer.avahi.instance": "\(key)", "synclayer.avahi.error": "\(Self.errorText(number))"])
            return
        }
        let txt = TXTRecord.dictionary(from: txtList)
        logger.trace("resolved", metadata: ["synclayer.avahi.instance": "\(key)", "synclayer.avahi.txt": "\(txt)"])
        guard let address else {
            logger.debug("ignoring instance without an address", metadata: ["synclayer.avahi.instance": "\(key)"])
            return
        }
        guard let peer = DiscoveredPeer.resolved(
            txt: txt, instanceName: name.map { String(cString: $0) } ?? key.name, address: Self.addressText(address),
            port: port, interfaceIndex: interface, ownNodeID: ownNodeID)
        else {
            logger.debug("ignoring instance without a usable node id, or with ours", metadata: ["synclayer.avahi.instance": "\(key)"])
            return
        }
        emit(peers.resolve(peer, for: key))
    }

    static func addressText(_ address: UnsafePointer<AvahiAddress>) -> String {
        var buffer = [CChar](repeating: 0, count: Int(AVAHI_ADDRESS_STR_MAX))
        return buffer.withUnsafeMutableBufferPointer { bytes in
            guard avahi_address_snprint(bytes.baseAddress, bytes.count, address) != nil else { return "" }
            return String(cString: bytes.baseAddress!)
        }
    }
}
