extension DocumentState {
    /// The merge clocks as canonical JSON, stored beside the body.
    ///
    /// `{"l": stamp, "d": deleted, "f": {field: stamp}}`, where `f` lists only the fields whose stamp
    /// differs from the lifecycle's, so a document written by one save stores one stamp.
    package var clocksJSON: String {
        var object: JSONObject = [:]
        if let lifecycle {
            object["l"] = .string(lifecycle.stamp.description)
            if lifecycle.isDeleted { object["d"] = .bool(true) }
        }
        var stamps: JSONObject = [:]
        for (name, field) in fields where field.stamp != lifecycle?.stamp {
            stamps[name] = .string(field.stamp.description)
        }
        if !stamps.isEmpty { object["f"] = .object(stamps) }
        return JSONValue.canonicalString(object: object)
    }

    /// Rebuilds a state from its stored body and clocks.
    ///
    /// - Throws: ``JSONError`` when either text is damaged.
    package init(body: JSONObject, clocksJSON: String) throws(JSONError) {
        let clocks = try JSONParser().parseObject(Array(clocksJSON.utf8))
        var lifecycle: Lifecycle?
        if let text = clocks["l"]?.stringValue {
            guard let stamp = Stamp(text) else { throw JSONError(code: .syntax, offset: 0, message: "bad lifecycle stamp") }
            lifecycle = Lifecycle(stamp: stamp, isDeleted: clocks["d"]?.boolValue ?? false)
        }
        let stamps = clocks["f"]?.objectValue ?? [:]
        var fields: [String: Field] = [:]
        fields.reserveCapacity(body.count)
        for (name, value) in body {
            if let text = stamps[name]?.stringValue {
                guard let stamp = Stamp(text) else { throw JSONError(code: .syntax, offset: 0, message: "bad field stamp") }
                fields[name] = Field(stamp: stamp, value: value)
            } else if let lifecycle {
                fields[name] = Field(stamp: lifecycle.stamp, value: value)
            } else {
                throw JSONError(code: .syntax, offset: 0, message: "field \(name) has no stamp")
            }
        }
        self.init(lifecycle: lifecycle, fields: fields)
    }
}
