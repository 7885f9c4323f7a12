import Foundation

/// What `shunt inject` changed in one object, kept as JSON in its `shunt.dev/injected` annotation so
/// that `shunt uninject` puts back exactly what was there, and nothing else.
enum InjectionRecord {
    static let annotation = "shunt.dev/injected"
    static let version = 1

    /// On the workload: the container and volume that were added, and which keys had to be created.
    struct Workload: Codable, Equatable {
        var version = InjectionRecord.version
        var service: String
        var container: String
        var volume: String
        var createdVolumes: Bool
        var createdAnnotations: Bool
    }

    /// On the Service: each port whose targetPort now points at the agent, with its old targetPort.
    struct Service: Codable, Equatable {
        var version = InjectionRecord.version
        var workload: String
        var ports: [Port]
        var createdAnnotations: Bool
    }

    struct Port: Codable, Equatable {
        var index: Int
        var port: Int
        var edgePort: Int
        /// nil: the port had no targetPort (it defaulted to `port`).
        var targetPort: TargetPort?
    }

    /// A targetPort as written: a number or a port name (a JSON number or string).
    enum TargetPort: Codable, Equatable, CustomStringConvertible {
        case number(Int)
        case name(String)

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let number = try? container.decode(Int.self) {
                self = .number(number)
            } else {
                self = .name(try container.decode(String.self))
            }
        }

        var description: String {
            switch self {
            case .number(let number): String(number)
            case .name(let name): name
            }
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            switch self {
            case .number(let number): try container.encode(number)
            case .name(let name): try container.encode(name)
            }
        }
    }

    static func encode<T: Encodable>(_ record: T) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Encoding these plain structs cannot fail.
        return String(decoding: (try? encoder.encode(record)) ?? Data(), as: UTF8.self)
    }

    static func decode<T: Decodable>(_ type: T.Type, from text: String, in object: String) throws -> T {
        do {
            let record = try JSONDecoder().decode(type, from: Data(text.utf8))
            return record
        } catch {
            throw InjectionError(.malformedObject, "\(object): the \(annotation) annotation is not one shunt inject wrote (\(error)); remove it and the agent by hand")
        }
    }
}
