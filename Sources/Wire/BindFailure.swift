import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// A listener that could not bind its address: names the config key and the address, so that
/// the node's last line says what to change (`peer_listen 127.0.0.1:7401: address already in use`).
public struct BindFailure: Error, CustomStringConvertible, Sendable {
    public var key: String
    public var address: HostPort
    public var reason: String
    public var description: String { "\(key) \(address): \(reason)" }

    public init(key: String, address: HostPort, error: any Error) {
        self.key = key
        self.address = address
        if let io = error as? IOError {
            // strerror's text, lower-cased as the node's other messages are.
            let text = String(cString: strerror(io.errnoCode))
            reason = text.prefix(1).lowercased() + text.dropFirst()
        } else {
            reason = "\(error)"
        }
    }
}
