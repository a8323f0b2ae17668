import Logging

#if canImport(Glibc)
import Glibc
#endif

extension IncidentNode {
    /// The client authentication policy at start. Anonymous clients get `hq` only on a listener
    /// bound to loopback (a socket passed by systemd is looked at, not `listen`), and the node
    /// says so with a warning; anywhere else tokens are required.
    static func clientAuthority(_ config: NodeConfig, passedClientSocket: Int32?, logger: Logger) throws -> ClientAuthority {
        let loopback = passedClientSocket.map(socketIsLoopback) ?? config.listen.isLoopback
        if !loopback && config.tokens.isEmpty {
            throw NodeConfig.Failure(
                file: "", key: "tokens",
                reason: "the client socket passed by systemd is not on loopback, so clients need tokens; configure tokens (docs/SECURITY.md)")
        }
        if !loopback && config.allowAnonymousLoopback == true {
            throw NodeConfig.Failure(
                file: "", key: "allow_anonymous_loopback",
                reason: "the client socket passed by systemd is not on loopback; anonymous clients are allowed on loopback only")
        }
        let anonymous = config.allowAnonymousLoopback ?? loopback
        if anonymous {
            logger.warning(
                "anonymous clients on loopback get the hq role (append and read everything); set allow_anonymous_loopback to false to require tokens",
                metadata: ["client.tokens": "\(config.tokens.count)"])
        } else {
            logger.info("client tokens required", metadata: ["client.tokens": "\(config.tokens.count)"])
        }
        return ClientAuthority(
            tokens: config.tokens, anonymous: anonymous, listenerIsLoopback: loopback, allowAnonymous: config.allowAnonymousLoopback)
    }

    /// Whether a listening socket is bound to a loopback address (127.0.0.0/8, ::1, v4-mapped 127/8).
    static func socketIsLoopback(_ fd: Int32) -> Bool {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let ok = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) == 0 }
        }
        guard ok else { return false }
        switch Int32(storage.ss_family) {
        case AF_INET:
            return withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt32(bigEndian: $0.pointee.sin_addr.s_addr) >> 24 == 127 }
            }
        case AF_INET6:
            let bytes = withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { p in
                    withUnsafeBytes(of: p.pointee.sin6_addr) { Array($0) }
                }
            }
            let loopback6 = [UInt8](repeating: 0, count: 15) + [1]
            let mapped = [UInt8](repeating: 0, count: 10) + [0xff, 0xff]
            return bytes == loopback6 || (Array(bytes[0..<12]) == mapped && bytes[12] == 127)
        default:
            return false
        }
    }
}
