-- Wireshark / tshark dissector for the Shunt wire protocol, version 1 (spec/PROTOCOL.md).
--
-- Shunt runs over TLS 1.3 with ALPN "shunt/1". With the key log of either end (SSLKEYLOGFILE),
-- Wireshark decrypts the TLS records and hands the plaintext to this dissector, found by ALPN,
-- by the TLS port preference (default 7443), or heuristically by the 8-octet preface.
--
--   tshark -r capture.pcapng -X lua_script:tools/wireshark/shunt.lua \
--          -o tls.keylog_file:keys.log -Y shunt -O shunt
--
-- Install for Wireshark: copy to ~/.local/lib/wireshark/plugins/ (see spec/DEBUGGING.md).

local shunt = Proto("shunt", "Shunt wire protocol")

local PREFACE = "\137SHUNT\r\n"
local HEADER = 12

local frame_types = {
    [0x00] = "DATA", [0x01] = "STREAM_OPEN", [0x02] = "RESET", [0x03] = "WINDOW_UPDATE",
    [0x04] = "PING", [0x05] = "GOAWAY", [0x06] = "HELLO", [0x07] = "MAX_STREAMS",
}
local error_codes = {
    [0x00] = "NO_ERROR", [0x01] = "PROTOCOL_ERROR", [0x02] = "INTERNAL_ERROR", [0x03] = "FLOW_CONTROL_ERROR",
    [0x04] = "FRAME_SIZE_ERROR", [0x05] = "SETTINGS_ERROR", [0x06] = "STREAM_CLOSED", [0x07] = "REFUSED_STREAM",
    [0x08] = "CANCEL", [0x09] = "VERSION_MISMATCH", [0x0A] = "ENHANCE_YOUR_CALM", [0x0B] = "STREAM_LIMIT_ERROR",
    [0x0C] = "METADATA_ERROR", [0x0D] = "COMPRESSION_ERROR", [0x0E] = "CONNECT_ERROR", [0x0F] = "UNSUPPORTED_KIND",
    [0x10] = "TIMEOUT", [0x11] = "UNAUTHORIZED",
}
local settings = {
    [0x0001] = "MAX_FRAME_SIZE", [0x0002] = "INITIAL_STREAM_WINDOW", [0x0003] = "INITIAL_SESSION_WINDOW",
    [0x0004] = "INITIAL_MAX_STREAMS", [0x0005] = "MAX_METADATA_SIZE", [0x0006] = "COMPRESSION", [0x0007] = "HTTP_KEEP_ALIVE",
}
-- Valid values of the known settings (spec section 2.3); COMPRESSION takes any value.
local setting_ranges = {
    [0x0001] = { 16384, 16777215 }, [0x0002] = { 0, 0x7FFFFFFF }, [0x0003] = { 0, 0x7FFFFFFF },
    [0x0004] = { 0, 0x7FFFFFFF }, [0x0005] = { 256, 65535 }, [0x0007] = { 0, 1 },
}
local kinds = { [0x01] = "TCP", [0x02] = "HTTP", [0x03] = "CONTROL", [0x04] = "HTTP2" }

local f = {
    preface        = ProtoField.bytes("shunt.preface", "Preface"),
    length         = ProtoField.uint32("shunt.length", "Length", base.DEC),
    type           = ProtoField.uint8("shunt.type", "Type", base.HEX, frame_types),
    flags          = ProtoField.uint8("shunt.flags", "Flags", base.HEX),
    flag_fin       = ProtoField.bool("shunt.flags.fin", "FIN", 8, nil, 0x01),
    flag_compressed = ProtoField.bool("shunt.flags.compressed", "COMPRESSED", 8, nil, 0x02),
    flag_ack       = ProtoField.bool("shunt.flags.ack", "ACK", 8, nil, 0x01),
    reserved       = ProtoField.uint16("shunt.reserved", "Reserved", base.HEX),
    r              = ProtoField.bool("shunt.r", "R", 32, nil, 0x80000000),
    stream         = ProtoField.uint32("shunt.stream", "Stream ID", base.DEC, nil, 0x7FFFFFFF),
    data           = ProtoField.bytes("shunt.data", "Data"),
    kind           = ProtoField.uint8("shunt.kind", "Kind", base.HEX, kinds),
    metadata       = ProtoField.bytes("shunt.metadata", "Metadata"),
    meta_key       = ProtoField.string("shunt.metadata.key", "Key"),
    meta_value     = ProtoField.bytes("shunt.metadata.value", "Value"),
    meta_text      = ProtoField.string("shunt.metadata.text", "Value (text)"),
    error_code     = ProtoField.uint32("shunt.error_code", "Error Code", base.HEX, error_codes),
    reason         = ProtoField.string("shunt.reason", "Reason"),
    increment      = ProtoField.uint32("shunt.increment", "Window Increment", base.DEC, nil, 0x7FFFFFFF),
    opaque         = ProtoField.uint64("shunt.opaque", "Opaque", base.HEX),
    last_stream    = ProtoField.uint32("shunt.last_stream_id", "Last Stream ID", base.DEC, nil, 0x7FFFFFFF),
    debug          = ProtoField.string("shunt.debug", "Debug Data"),
    min_version    = ProtoField.uint16("shunt.min_version", "Min Version", base.DEC),
    max_version    = ProtoField.uint16("shunt.max_version", "Max Version", base.DEC),
    setting_id     = ProtoField.uint16("shunt.setting.id", "Setting", base.HEX, settings),
    setting_value  = ProtoField.uint32("shunt.setting.value", "Value", base.DEC),
    maximum        = ProtoField.uint32("shunt.max_streams", "Maximum Streams", base.DEC, nil, 0x7FFFFFFF),
    ext_payload    = ProtoField.bytes("shunt.extension.payload", "Extension Payload"),
    malformation   = ProtoField.string("shunt.malformation", "Malformation"),
}
shunt.fields = f

local e = {
    malformed = ProtoExpert.new("shunt.malformed", "Malformed Shunt frame", expert.group.MALFORMED, expert.severity.ERROR),
    error_code = ProtoExpert.new("shunt.error", "Shunt error code", expert.group.RESPONSE_CODE, expert.severity.WARN),
    extension = ProtoExpert.new("shunt.extension", "Shunt extension frame", expert.group.UNDECODED, expert.severity.NOTE),
}
shunt.experts = e

shunt.prefs.port = Pref.uint("TLS port", 7443, "TCP port of Shunt's TLS sessions (the agent's tunnel port)")
shunt.prefs.max_frame_size = Pref.uint("MAX_FRAME_SIZE", 16384, "The receiver's MAX_FRAME_SIZE, for FRAME_TOO_LARGE")
shunt.prefs.max_metadata_size = Pref.uint("MAX_METADATA_SIZE", 8192, "The receiver's MAX_METADATA_SIZE, for METADATA_TOO_LARGE")

local function error_name(code)
    return error_codes[code] or string.format("0x%08x", code)
end

local function printable(tvb)
    if tvb:len() == 0 then return "" end
    local s = tvb:raw()
    if s:find("[%z\1-\8\11\12\14-\31\127]") then return nil end
    return s
end

-- Malformations found in the frame being dissected, for its Info entry.
local marks = {}

local function malformed(item, pinfo, name, detail)
    item:add_proto_expert_info(e.malformed, name .. ": " .. detail)
    item:add(f.malformation, name):set_generated()
    marks[#marks + 1] = "!" .. name
end

-- Steps 1-7 of spec section 3.1, from the header alone. Returns the malformation name and detail.
local function check_header(length, ftype, flags, reserved, raw_stream)
    if length > shunt.prefs.max_frame_size then
        return "FRAME_TOO_LARGE", string.format("length %d exceeds MAX_FRAME_SIZE %d", length, shunt.prefs.max_frame_size)
    end
    if reserved ~= 0 or raw_stream >= 0x80000000 then return "RESERVED_BITS_SET", "header reserved bits set" end
    if ftype >= 0x80 then return nil end
    if ftype >= 0x08 then return "UNKNOWN_FRAME_TYPE", string.format("type 0x%02x is reserved", ftype) end
    local defined = ({ [0x00] = 0x03, [0x01] = 0x01, [0x04] = 0x01 })[ftype] or 0
    if bit.band(flags, bit.bnot(defined)) ~= 0 then return "UNDEFINED_FLAGS", string.format("flags 0x%02x", flags) end
    local on_session = raw_stream == 0
    if (ftype <= 0x02) and on_session then return "ZERO_STREAM_ID", frame_types[ftype] .. " on stream 0" end
    if (ftype >= 0x04) and not on_session then return "NONZERO_STREAM_ID", frame_types[ftype] .. " not on stream 0" end
    local ok = true
    if ftype == 0x01 then ok = length >= 1
    elseif ftype == 0x02 then ok = length >= 4 and length <= 260
    elseif ftype == 0x03 or ftype == 0x07 then ok = length == 4
    elseif ftype == 0x04 then ok = length == 8
    elseif ftype == 0x05 then ok = length >= 8 and length <= 1032
    elseif ftype == 0x06 then ok = length >= 4 and (length - 4) % 6 == 0 and (length - 4) / 6 <= 64
    end
    if not ok then return "BAD_FRAME_LENGTH", string.format("%s cannot have length %d", frame_types[ftype], length) end
    if ftype == 0x01 and length - 1 > shunt.prefs.max_metadata_size then
        return "METADATA_TOO_LARGE", string.format("%d octets of metadata", length - 1)
    end
    return nil
end

local function dissect_metadata(tvb, pinfo, tree)
    local offset, entry = 0, 0
    local parts = {}
    local seen_keys = {}
    while offset < tvb:len() do
        local key_len = tvb(offset, 1):uint()
        if key_len == 0 or offset + 1 + key_len + 2 > tvb:len() then
            malformed(tree, pinfo, "BAD_METADATA", "entry " .. entry .. " is empty or cut short")
            return parts
        end
        local value_len = tvb(offset + 1 + key_len, 2):uint()
        if offset + 3 + key_len + value_len > tvb:len() then
            malformed(tree, pinfo, "BAD_METADATA", "entry " .. entry .. " is cut short")
            return parts
        end
        local key = tvb(offset + 1, key_len):string()
        if not key:match("^[a-z0-9%-%._]+$") then
            malformed(tree, pinfo, "BAD_METADATA", "entry " .. entry .. " has a key outside a-z 0-9 - . _")
        elseif seen_keys[key] then
            malformed(tree, pinfo, "BAD_METADATA", "entry " .. entry .. " repeats the key " .. key)
        elseif entry == 64 then
            malformed(tree, pinfo, "BAD_METADATA", "more than 64 entries")
        end
        seen_keys[key] = true
        local value = tvb(offset + 3 + key_len, value_len)
        local text = value_len > 0 and printable(value:tvb()) or ""
        local sub = tree:add(shunt, tvb(offset, 3 + key_len + value_len), "Entry: " .. key .. "=" .. (text or "<binary>"))
        sub:add(f.meta_key, tvb(offset + 1, key_len))
        if value_len > 0 then
            sub:add(f.meta_value, value)
            if text then sub:add(f.meta_text, value) end
        end
        parts[#parts + 1] = key .. "=" .. (text or "<binary>")
        offset = offset + 3 + key_len + value_len
        entry = entry + 1
    end
    return parts
end

-- One whole frame (header and payload) in `tvb`.
local function dissect_frame(tvb, pinfo, tree)
    marks = {}
    local length = tvb(0, 4):uint()
    local ftype = tvb(4, 1):uint()
    local flags = tvb(5, 1):uint()
    local reserved = tvb(6, 2):uint()
    local raw_stream = tvb(8, 4):uint()
    local stream = bit.band(raw_stream, 0x7FFFFFFF)
    local name = frame_types[ftype] or (ftype >= 0x80 and string.format("EXTENSION(0x%02x)", ftype) or string.format("RESERVED(0x%02x)", ftype))
    local item = tree:add(shunt, tvb(), string.format("Shunt %s, Stream %d, Length %d", name, stream, length))
    item:add(f.length, tvb(0, 4))
    item:add(f.type, tvb(4, 1))
    local flags_item = item:add(f.flags, tvb(5, 1))
    if ftype == 0x00 then
        flags_item:add(f.flag_fin, tvb(5, 1))
        flags_item:add(f.flag_compressed, tvb(5, 1))
    elseif ftype == 0x01 then
        flags_item:add(f.flag_fin, tvb(5, 1))
    elseif ftype == 0x04 then
        flags_item:add(f.flag_ack, tvb(5, 1))
    end
    item:add(f.reserved, tvb(6, 2))
    item:add(f.r, tvb(8, 4))
    item:add(f.stream, tvb(8, 4))

    local info = name
    if ftype ~= 0x04 and ftype ~= 0x05 and ftype ~= 0x06 and ftype ~= 0x07 then info = info .. " s=" .. stream end
    local flag_names = {}
    if (ftype == 0x00 or ftype == 0x01) and bit.band(flags, 0x01) ~= 0 then flag_names[#flag_names + 1] = "FIN" end
    if ftype == 0x00 and bit.band(flags, 0x02) ~= 0 then flag_names[#flag_names + 1] = "COMPRESSED" end
    if ftype == 0x04 and bit.band(flags, 0x01) ~= 0 then flag_names[#flag_names + 1] = "ACK" end
    if #flag_names > 0 then info = info .. " [" .. table.concat(flag_names, "|") .. "]" end

    local bad, detail = check_header(length, ftype, flags, reserved, raw_stream)
    local payload = tvb:range(HEADER, length)
    if bad then
        malformed(item, pinfo, bad, detail)
    elseif ftype == 0x00 then
        if length > 0 then item:add(f.data, payload) end
        info = info .. " len=" .. length
    elseif ftype == 0x01 then
        item:add(f.kind, tvb(HEADER, 1))
        info = info .. " " .. (kinds[tvb(HEADER, 1):uint()] or string.format("KIND(0x%02x)", tvb(HEADER, 1):uint()))
        if length > 1 then
            local meta = item:add(f.metadata, tvb(HEADER + 1, length - 1))
            local parts = dissect_metadata(tvb(HEADER + 1, length - 1):tvb(), pinfo, meta)
            if #parts > 0 then info = info .. " " .. table.concat(parts, " ") end
        end
    elseif ftype == 0x02 then
        local code = tvb(HEADER, 4):uint()
        item:add(f.error_code, tvb(HEADER, 4))
        if length > 4 then item:add(f.reason, tvb(HEADER + 4, length - 4)) end
        info = info .. " " .. error_name(code)
        if code ~= 0 then item:add_proto_expert_info(e.error_code, "RESET " .. error_name(code)) end
    elseif ftype == 0x03 then
        local value = tvb(HEADER, 4):uint()
        item:add(f.increment, tvb(HEADER, 4))
        if value >= 0x80000000 then malformed(item, pinfo, "RESERVED_BITS_SET", "WINDOW_UPDATE reserved bit")
        elseif value == 0 then malformed(item, pinfo, "ZERO_WINDOW_INCREMENT", "increment 0") end
        info = info .. " +" .. bit.band(value, 0x7FFFFFFF)
    elseif ftype == 0x04 then
        item:add(f.opaque, tvb(HEADER, 8))
        info = info .. " " .. tvb(HEADER, 8):bytes():tohex():lower()
    elseif ftype == 0x05 then
        local last = tvb(HEADER, 4):uint()
        local code = tvb(HEADER + 4, 4):uint()
        item:add(f.last_stream, tvb(HEADER, 4))
        item:add(f.error_code, tvb(HEADER + 4, 4))
        if length > 8 then item:add(f.debug, tvb(HEADER + 8, length - 8)) end
        if last >= 0x80000000 then malformed(item, pinfo, "RESERVED_BITS_SET", "GOAWAY last stream id reserved bit") end
        info = info .. " last=" .. bit.band(last, 0x7FFFFFFF) .. " " .. error_name(code)
        if length > 8 then info = info .. " \"" .. tvb(HEADER + 8, length - 8):string() .. "\"" end
        if code ~= 0 then item:add_proto_expert_info(e.error_code, "GOAWAY " .. error_name(code)) end
    elseif ftype == 0x06 then
        local min_v, max_v = tvb(HEADER, 2):uint(), tvb(HEADER + 2, 2):uint()
        item:add(f.min_version, tvb(HEADER, 2))
        item:add(f.max_version, tvb(HEADER + 2, 2))
        info = info .. " v" .. min_v .. ".." .. max_v
        if min_v == 0 or min_v > max_v then malformed(item, pinfo, "BAD_HELLO", "bad version range") end
        local seen = {}
        for i = 0, (length - 4) / 6 - 1 do
            local at = HEADER + 4 + 6 * i
            local id, value = tvb(at, 2):uint(), tvb(at + 2, 4):uint()
            local sub = item:add(shunt, tvb(at, 6), string.format("Setting: %s = %d", settings[id] or string.format("SETTING(0x%04x)", id), value))
            sub:add(f.setting_id, tvb(at, 2))
            sub:add(f.setting_value, tvb(at + 2, 4))
            local range = setting_ranges[id]
            if id == 0 or seen[id] then malformed(sub, pinfo, "BAD_HELLO", "setting id 0 or repeated")
            elseif range and (value < range[1] or value > range[2]) then
                malformed(sub, pinfo, "BAD_SETTING_VALUE", string.format("%s = %d is outside %d...%d", settings[id], value, range[1], range[2]))
            end
            seen[id] = true
            info = info .. " " .. (settings[id] or string.format("0x%04x", id)) .. "=" .. value
        end
    elseif ftype == 0x07 then
        local value = tvb(HEADER, 4):uint()
        item:add(f.maximum, tvb(HEADER, 4))
        if value >= 0x80000000 then malformed(item, pinfo, "RESERVED_BITS_SET", "MAX_STREAMS reserved bit") end
        info = info .. " " .. bit.band(value, 0x7FFFFFFF)
    else
        if length > 0 then item:add(f.ext_payload, payload) end
        item:add_proto_expert_info(e.extension, "extension frame (ignored by receivers)")
    end
    if #marks > 0 then info = info .. " " .. table.concat(marks, " ") end
    return info
end

function shunt.dissector(tvb, pinfo, tree)
    local total = tvb:len()
    local offset = 0
    local infos = {}
    while offset < total do
        local remaining = total - offset
        -- Each direction starts with the 8-octet preface; a frame never starts with 0x89 (its
        -- length would be far above any MAX_FRAME_SIZE).
        if tvb(offset, 1):uint() == 0x89 then
            if remaining < #PREFACE then
                pinfo.desegment_offset = offset
                pinfo.desegment_len = #PREFACE - remaining
                break
            end
            local item = tree:add(shunt, tvb(offset, #PREFACE), "Shunt Preface")
            item:add(f.preface, tvb(offset, #PREFACE))
            marks = {}
            if tvb(offset, #PREFACE):raw() ~= PREFACE then malformed(item, pinfo, "BAD_PREFACE", "not 0x89 SHUNT CR LF") end
            infos[#infos + 1] = #marks > 0 and "PREFACE !BAD_PREFACE" or "PREFACE"
            offset = offset + #PREFACE
        else
            if remaining < HEADER then
                pinfo.desegment_offset = offset
                pinfo.desegment_len = DESEGMENT_ONE_MORE_SEGMENT
                break
            end
            local length = tvb(offset, 4):uint()
            if length > shunt.prefs.max_frame_size then
                -- The length cannot be trusted: show the header and give up on this segment.
                local item = tree:add(shunt, tvb(offset, HEADER), "Shunt frame header (too large)")
                item:add(f.length, tvb(offset, 4))
                malformed(item, pinfo, "FRAME_TOO_LARGE", string.format("length %d exceeds MAX_FRAME_SIZE %d", length, shunt.prefs.max_frame_size))
                infos[#infos + 1] = "!FRAME_TOO_LARGE"
                offset = total
                break
            end
            if remaining < HEADER + length then
                pinfo.desegment_offset = offset
                pinfo.desegment_len = HEADER + length - remaining
                break
            end
            infos[#infos + 1] = dissect_frame(tvb(offset, HEADER + length):tvb(), pinfo, tree)
            offset = offset + HEADER + length
        end
    end
    if #infos > 0 then
        -- One packet may carry several TLS records, each handed over in its own call: append.
        if tostring(pinfo.cols.protocol) == "Shunt" then
            -- TLS announced the next record as "Application Data" in between: that is this one.
            local current = tostring(pinfo.cols.info):gsub(", Application Data$", "")
            pinfo.cols.info:set(current .. ", " .. table.concat(infos, ", "))
        else
            pinfo.cols.protocol = "Shunt"
            pinfo.cols.info = table.concat(infos, ", ")
        end
    end
    return offset
end

-- Heuristic over TLS: the decrypted stream starts with the preface.
local function heuristic(tvb, pinfo, tree)
    if tvb:len() < 8 or tvb(0, 8):raw() ~= PREFACE then return false end
    pinfo.conversation = shunt
    shunt.dissector(tvb, pinfo, tree)
    return true
end

local registered_port = nil
local function register_port()
    local tls_port = DissectorTable.get("tls.port")
    if registered_port then tls_port:remove(registered_port, shunt) end
    registered_port = shunt.prefs.port
    if registered_port ~= 0 then tls_port:add(registered_port, shunt) end
end

function shunt.prefs_changed()
    register_port()
end

function shunt.init()
    register_port()
end

DissectorTable.get("tls.alpn"):add("shunt/1", shunt)
shunt:register_heuristic("tls", heuristic)
register_port()
