import CAvahi
import Logging

extension AvahiSession {
    /// Adds our service to the entry group and commits it, once the client is running.
    func publish(on client: OpaquePointer) {
        if group == nil {
            group = avahi_entry_group_new(
                client,
                { group, state, context in AvahiSession.from(context).groupStateChanged(group, state) },
                context)
            if group == nil {
                logger.error(
                    "cannot create an avahi entry group",
                    metadata: ["synclayer.avahi.error": "\(Self.errorText(avahi_client_errno(client)))"])
                return
            }
        }
        guard let group, avahi_entry_group_is_empty(group) != 0 else { return }
        addServiceAndCommit(to: group)
    }

    /// Adds the service under `instanceName`, renaming on a local collision (another client of the
    /// same daemon already holds the name), then commits. Bounded by `maximumRenames`.
    func addServiceAndCommit(to group: OpaquePointer) {
        for _ in 0..<Self.maximumRenames {
            let result = TXTRecord.withStringList(txt) { list in
                avahi_entry_group_add_service_strlst(
                    group, AvahiIfIndex(AVAHI_IF_UNSPEC), ipFamily.avahiProtocol, AvahiPublishFlags(0),
                    instanceName, serviceType, nil, nil, port, list)
            }
            if result == Int32(AVAHI_ERR_COLLISION) {
                rename()
                continue
            }
            guard result >= 0 else {
                logger.error(
                    "avahi refused our service", metadata: ["synclayer.avahi.error": "\(Self.errorText(result))"])
                avahi_entry_group_reset(group)
                return
            }
            let committed = avahi_entry_group_commit(group)
            if committed < 0 {
                logger.error(
                    "cannot commit our service", metadata: ["synclayer.avahi.error": "\(Self.errorText(committed))"])
            }
            return
        }
        logger.error("gave up publishing after \(Self.maximumRenames) name collisions")
    }

    /// The entry group callback (may fire inside `avahi_entry_group_new`).
    func groupStateChanged(_ group: OpaquePointer?, _ state: AvahiEntryGroupState) {
        guard let group else { return }
        switch state {
        case AVAHI_ENTRY_GROUP_ESTABLISHED:
            logger.info("published", metadata: ["synclayer.avahi.name": "\(instanceName)"])
            emit([.published(name: instanceName)])
        case AVAHI_ENTRY_GROUP_COLLISION:
            // Another host on the network holds the name: pick the next one and publish again.
            rename()
            avahi_entry_group_reset(group)
            addServiceAndCommit(to: group)
        case AVAHI_ENTRY_GROUP_FAILURE:
            let number = avahi_client_errno(avahi_entry_group_get_client(group))
            logger.warning("avahi entry group failed", metadata: ["synclayer.avahi.error": "\(Self.errorText(number))"])
        default:
            break
        }
    }

    /// Moves `instanceName` to Avahi's next alternative (`name` → `name #2` → `name #3`).
    func rename() {
        guard let alternative = avahi_alternative_service_name(instanceName) else { return }
        let previous = instanceName
        instanceName = String(cString: alternative)
        avahi_free(alternative)
        logger.info(
            "service name collision; renamed",
            metadata: ["synclayer.avahi.name": "\(previous)", "synclayer.avahi.renamed": "\(instanceName)"])
    }

    /// Replaces the published TXT record. Called from other threads: takes the poll lock.
    func updateTXT(_ newTXT: [String: String]) throws(DiscoveryError) {
        avahi_threaded_poll_lock(poll)
        defer { avahi_threaded_poll_unlock(poll) }
        txt = newTXT
        // Not published yet (or withdrawn): the new record goes out with the next publication.
        guard let group, avahi_entry_group_is_empty(group) == 0 else { return }
        let result = TXTRecord.withStringList(newTXT) { list in
            avahi_entry_group_update_service_txt_strlst(
                group, AvahiIfIndex(AVAHI_IF_UNSPEC), ipFamily.avahiProtocol, AvahiPublishFlags(0),
                instanceName, serviceType, nil, list)
        }
        if result < 0 {
            throw DiscoveryError(
                code: .publishFailed,
                message: "avahi refused the new TXT record: \(Self.errorText(result)); it is used when the service is next published",
                avahiErrorNumber: result)
        }
    }
}
