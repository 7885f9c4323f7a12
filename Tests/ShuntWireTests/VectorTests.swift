import Foundation
import NIOCore
import ShuntWire
import Testing

struct FrameVector: Sendable, CustomTestStringConvertible {
    var name: String
    var hex: String
    var limits: FrameDecoder.Limits
    var frame: FrameJSON
    var testDescription: String { name }
}

struct MalformedVector: Sendable, CustomTestStringConvertible {
    var name: String
    var hex: String
    var limits: FrameDecoder.Limits
    var preface: Bool
    var error: String
    var code: String?
    var offset: Int
    var testDescription: String { name }
}

extension Vectors {
    static let frames: [FrameVector] = ((try? load("frames.json"))?["frames"] as? [[String: Any]] ?? []).map {
        FrameVector(name: $0["name"] as! String, hex: $0["hex"] as! String, limits: limits($0), frame: FrameJSON(json: $0["frame"]!))
    }
    static let malformed: [MalformedVector] = ((try? load("malformed.json"))?["cases"] as? [[String: Any]] ?? []).map {
        MalformedVector(name: $0["name"] as! String, hex: $0["hex"] as! String, limits: limits($0),
                        preface: $0["preface"] as? Bool ?? false, error: $0["error"] as! String,
                        code: $0["code"] as? String, offset: ($0["offset"] as! NSNumber).intValue)
    }
}

/// The vectors of spec/vectors/ are the contract: every implementation decodes and encodes them exactly.
@Suite struct VectorTests {
    @Test func theVectorFilesCoverEveryFrameTypeAndEveryMalformation() {
        #expect(Vectors.frames.count >= 40)
        #expect(Vectors.malformed.count >= 60)
        let types = Set(Vectors.frames.map { $0.frame["type"]!.string })
        #expect(types == ["DATA", "STREAM_OPEN", "RESET", "WINDOW_UPDATE", "PING", "GOAWAY", "HELLO", "MAX_STREAMS", "EXTENSION"])
        let names = Set(Vectors.malformed.map(\.error))
        #expect(names == Set(FrameDecodingError.Malformation.allCases.map(\.rawValue)))
    }

    @Test(arguments: Vectors.frames)
    func aWellFormedVectorDecodesAndEncodesExactly(_ vector: FrameVector) {
        let bytes = Hex.decode(vector.hex)
        for chunk in [0, 1, 5] {
            let (frames, error) = decodeAll(bytes, limits: vector.limits, chunk: chunk)
            #expect(error == nil, "chunk \(chunk): \(String(describing: error))")
            #expect(frames.count == 1)
            if let frame = frames.first {
                #expect(FrameJSON(frame) == vector.frame, "chunk \(chunk)")
            }
        }
        #expect(Hex.encode(FrameEncoder.bytes(of: vector.frame.frame)) == vector.hex)
    }

    @Test(arguments: Vectors.malformed)
    func aMalformedVectorFailsWithItsNameCodeAndOffset(_ vector: MalformedVector) throws {
        let bytes = Hex.decode(vector.hex)
        for chunk in [0, 1, 7] {
            let (_, error) = decodeAll(bytes, limits: vector.limits, preface: vector.preface, chunk: chunk)
            let failure = try #require(error, "decoded without error (chunk \(chunk))")
            #expect(failure.malformation.rawValue == vector.error, "chunk \(chunk): \(failure)")
            #expect(failure.code?.name == vector.code)
            #expect(failure.offset == vector.offset, "\(failure)")
        }
    }
}
