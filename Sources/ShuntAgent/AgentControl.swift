import Foundation
import Logging
import NIOCore
import ShuntMatch
import ShuntSession

/// Answers the control calls a laptop makes (spec §11) against the registry. The caller's identity
/// (its certificate's name) is the owner of what it registers.
struct AgentControl: Sendable {
    let registry: InterceptRegistry
    let info: InterceptCalls.AgentInfo
    let logger: Logger

    func answer(call: String, body: ByteBuffer, caller: String, session: SessionHandler) -> ByteBuffer {
        do {
            switch call {
            case InterceptCalls.register:
                let request = try decode(InterceptCalls.RegisterRequest.self, body)
                let intercept = try registry.register(request, owner: caller, session: session)
                logger.info("intercept registered", metadata: [
                    "intercept": .string(intercept.name), "owner": .string(caller), "port": "\(intercept.port)",
                    "rule": .string(LogRedaction.describe(intercept.rule)),
                ])
                return encode(InterceptCalls.Response(intercept))
            case InterceptCalls.remove:
                let request = try decode(InterceptCalls.RemoveRequest.self, body)
                try registry.remove(name: request.name, owner: caller)
                logger.info("intercept removed", metadata: ["intercept": .string(request.name), "owner": .string(caller)])
                return encode(InterceptCalls.Response(InterceptCalls.Empty()))
            case InterceptCalls.list:
                return encode(InterceptCalls.Response(InterceptCalls.ListResult(intercepts: registry.list())))
            case InterceptCalls.agentInfo:
                return encode(InterceptCalls.Response(info))
            default:
                throw InterceptCalls.Failure(.unknownCall, "this agent has no call \"\(call)\"")
            }
        } catch let failure as InterceptCalls.Failure {
            logger.notice("control call refused", metadata: [
                "call": .string(call), "caller": .string(caller), "code": .string(failure.code), "error": .string(failure.message),
            ])
            return encode(InterceptCalls.Response<InterceptCalls.Empty>(failure: failure))
        } catch {
            return encode(InterceptCalls.Response<InterceptCalls.Empty>(failure: InterceptCalls.Failure(.internal, "\(error)")))
        }
    }

    private func decode<T: Decodable>(_ type: T.Type, _ body: ByteBuffer) throws -> T {
        do {
            let decoder = JSONDecoder()
            decoder.userInfo[MatchLimits.userInfoKey] = registry.limits
            return try decoder.decode(type, from: Data(body.readableBytesView))
        } catch let error as RuleError {
            throw InterceptCalls.Failure(.invalidRule, error.description)
        } catch {
            throw InterceptCalls.Failure(.invalidRequest, "the request is not valid JSON for this call: \(error)")
        }
    }

    private func encode<T: Encodable>(_ value: T) -> ByteBuffer {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return ByteBuffer(bytes: (try? encoder.encode(value)) ?? Data(#"{"ok":false,"error":{"code":"INTERNAL","message":"encoding failed"}}"#.utf8))
    }
}
