import EventStore
import IncidentModel
import Logging
import Wire

/// Answers one request line of the client protocol with one response line.
struct RequestHandler: Sendable {
    let store: EventStore
    let validator: EventValidator
    let config: NodeConfig
    let publicKey: String
    let logger: Logger

    func handle(line: [UInt8], shuttingDown: Bool) async -> [UInt8] {
        let request: ClientRequest
        do {
            request = try line.withUnsafeBufferPointer { buffer throws(WireError) in
                try ClientRequest.parse(line: buffer, validator: validator, maximumEvents: config.maximumEventsPerAppend)
            }
        } catch {
            return ClientResponse.error(error)
        }
        switch request {
        case .append(let events):
            if shuttingDown { return ClientResponse.error(WireError(.shuttingDown, "the node is shutting down; retry later")) }
            do {
                let appended = try await store.append(events.map(PendingEvent.init))
                return ClientResponse.appended(ids: appended.map(\.id), firstOffset: appended[0].offset)
            } catch {
                return ClientResponse.error(Self.wireError(error))
            }
        case .get(let id):
            do {
                guard let event = try store.event(id: id) else {
                    return ClientResponse.error(WireError(.notFound, "no event \(id)"))
                }
                return ClientResponse.event(line: event.line)
            } catch {
                return ClientResponse.error(Self.wireError(error))
            }
        case .read(let from, let limit):
            do {
                let lines = try store.readLines(from: from, limit: limit)
                return ClientResponse.events(lines: lines, next: from + UInt64(lines.count))
            } catch {
                return ClientResponse.error(Self.wireError(error))
            }
        case .status:
            return ClientResponse.status(
                ClientResponse.Status(
                    node: store.nodeID, publicKey: publicKey, events: store.count, vector: store.versionVector,
                    dataBytes: store.dataBytes, segments: store.segmentCount, storeFailed: store.failure?.message))
        }
    }

    static func wireError(_ e: StoreError) -> WireError {
        switch e.code {
        case .diskFull: return WireError(.diskFull, e.message)
        case .storeFailed: return WireError(.storeFailed, e.message)
        case .closed: return WireError(.shuttingDown, e.message)
        default: return WireError(.internalError, e.message)
        }
    }
}
