import Foundation
import NIOCore
import ShuntSession
import ShuntWire
import ShuntWireTools
import Testing

@Suite("tap records and filters")
struct TapCallTests {
    let data = Frame.data(StreamID(2), ByteBuffer(string: "GET / HTTP/1.1\r\n"), fin: true)

    @Test func aSessionFilterTakesASessionIDOrAPeerName() {
        let all = TapCall.Request()
        #expect(all.wants(session: "alice#1", peer: "alice", stream: StreamID(2)))
        let byPeer = TapCall.Request(session: "alice")
        #expect(byPeer.wants(session: "alice#1", peer: "alice", stream: StreamID(2)))
        #expect(byPeer.wants(session: "alice#7", peer: "alice", stream: StreamID(0)))
        #expect(!byPeer.wants(session: "bob#2", peer: "bob", stream: StreamID(2)))
        let byID = TapCall.Request(session: "alice#7")
        #expect(!byID.wants(session: "alice#1", peer: "alice", stream: StreamID(2)))
        #expect(byID.wants(session: "alice#7", peer: "alice", stream: StreamID(2)))
    }

    @Test func aStreamFilterTakesOneStreamIDAndZeroIsTheSession() {
        let stream = TapCall.Request(stream: 4)
        #expect(stream.wants(session: "a#1", peer: "a", stream: StreamID(4)))
        #expect(!stream.wants(session: "a#1", peer: "a", stream: StreamID(2)))
        #expect(!stream.wants(session: "a#1", peer: "a", stream: StreamID(0)))
        #expect(TapCall.Request(stream: 0).wants(session: "a#1", peer: "a", stream: StreamID(0)))
    }

    @Test func thePayloadShownIsBoundedAtTheLimit() {
        #expect(TapCall.Request(payload: TapCall.maxPayload).problem == nil)
        #expect(TapCall.Request(payload: TapCall.maxPayload + 1).problem != nil)
        #expect(TapCall.Request(payload: -1).problem != nil)
        #expect(TapCall.Request(session: "").problem != nil)
    }

    @Test func aTextRecordIsTheDecodeTextFormWithoutPayloadUnlessAsked() throws {
        let line = TapCall.frameLine(session: "alice#1", direction: .sent, frame: data, format: .text, payload: 0)
        let record = try #require(TapCall.Record(line: line))
        #expect(record == .frame(session: "alice#1", text: "< DATA stream=2 flags=FIN length=16", line: line))
        #expect(record.printed(as: .text) == "< DATA stream=2 flags=FIN length=16  # alice#1")
        // It reads back as the frame's header (encode pads the DATA it was not shown with zeros).
        let parsed = try WireTextParser.parse(record.printed(as: .text))
        #expect(parsed.count == 1)
        #expect(parsed[0].direction == .serverToClient)
        #expect(Array(parsed[0].bytes.prefix(9)) == Array(ByteBuffer(bytes: encoded(data)).readableBytesView.prefix(9)))

        let shown = TapCall.frameLine(session: "alice#1", direction: .received, frame: data, format: .text, payload: 3)
        #expect(TapCall.Record(line: shown)?.printed(as: .text) == "> DATA stream=2 flags=FIN length=16 data=\"GET\"…  # alice#1")
    }

    @Test func aJSONRecordCarriesTheSessionDirectionAndTheDecodeMembers() throws {
        let open = Frame(streamID: StreamID(2), payload: .streamOpen(kind: .http, metadata: StreamMetadata([(key: "port", value: "8080")]), fin: false))
        let line = TapCall.frameLine(session: "alice#1", direction: .sent, frame: open, format: .json, payload: 0)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(object["session"] as? String == "alice#1")
        #expect(object["direction"] as? String == "server")
        #expect(object["type"] as? String == "STREAM_OPEN")
        #expect(object["kind"] as? String == "HTTP")
        #expect(TapCall.Record(line: line)?.printed(as: .json) == line)
        let data = TapCall.frameLine(session: "alice#1", direction: .received, frame: self.data, format: .json, payload: 0)
        #expect(!data.contains("data_"), "no payload unless asked: \(data)")
    }

    @Test func aDropReportSaysHowManyRecordsAreMissing() {
        let record = TapCall.Record(line: TapCall.droppedLine(17))
        #expect(record == .dropped(17))
        #expect(record?.printed(as: .text) == "# dropped 17 records: the tap read too slowly")
        #expect(TapCall.Record(line: "not json") == nil)
    }

    private func encoded(_ frame: Frame) -> [UInt8] {
        var buffer = ByteBuffer()
        FrameEncoder.encodeWhole(frame, into: &buffer)
        return Array(buffer.readableBytesView)
    }
}
