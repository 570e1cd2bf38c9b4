extension DocumentState {
    /// The merge clocks as canonical JSON, stored beside the body.
    ///
    /// `{"l": stamp, "d": deleted, "f": {field: stamp}}`, where `f` lists only the fields whose stamp
    /// differs from the lifecycle's, so a document written by one save stores one stamp.
    ///
    /// The canonical encoding of `{"d": true, "f": {field: stamp}, "l": stamp}`, written directly
    /// (keys in that order, fields in UTF-8 order) instead of through a `JSONObject`: every change a
    /// store applies writes it.
    package var clocksJSON: String {
        String(decoding: clocksBytes, as: UTF8.self)
    }

    /// ``clocksJSON``'s UTF-8 bytes, as the stores bind them.
    package var clocksBytes: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(64 + 64 * fields.count)
        out.append(UInt8(ascii: "{"))
        if lifecycle?.isDeleted == true { out.append(contentsOf: #""d":true"#.utf8) }
        var stamped = fields.compactMap { name, field in field.stamp == lifecycle?.stamp ? nil : (name, field.stamp) }
        if !stamped.isEmpty {
            stamped.sort { JSONValue.utf8Less($0.0, $1.0) }
            if out.count > 1 { out.append(UInt8(ascii: ",")) }
            out.append(contentsOf: #""f":{"#.utf8)
            for (index, (name, stamp)) in stamped.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                JSONValue.appendQuoted(name, to: &out)
                out.append(contentsOf: #":""#.utf8)
                stamp.appendText(to: &out)
                out.append(UInt8(ascii: "\""))
            }
            out.append(UInt8(ascii: "}"))
        }
        if let lifecycle {
            if out.count > 1 { out.append(UInt8(ascii: ",")) }
            out.append(contentsOf: #""l":""#.utf8)
            lifecycle.stamp.appendText(to: &out)
            out.append(UInt8(ascii: "\""))
        }
        out.append(UInt8(ascii: "}"))
        return out
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
