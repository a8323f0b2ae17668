import CSystemd

#if canImport(Glibc)
import Glibc
#endif

/// Sockets passed by systemd socket activation (`LISTEN_FDS`, `LISTEN_FDNAMES`, `LISTEN_PID`),
/// read with `sd_listen_fds_with_names(3)`. Each `.socket` unit names its sockets with
/// `FileDescriptorName=`; the daemon picks them by that name.
public struct SocketActivation: Sendable {
    /// One passed descriptor: its name (`unknown` when the unit gave none) and its number (3, 4, …).
    public struct Socket: Sendable, Equatable {
        public var name: String
        public var fd: Int32
    }

    public let sockets: [Socket]

    /// Takes the passed sockets and unsets the variables, so that a child process (none today)
    /// would not believe the sockets are its own. Descriptors get FD_CLOEXEC. Returns an empty
    /// set when none were passed, or when `LISTEN_PID` names another process.
    public static func take() -> SocketActivation {
        var names: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = nil
        let count = sd_listen_fds_with_names(1, &names)
        guard count > 0 else { return SocketActivation(sockets: []) }
        defer {
            if let names {
                for i in 0..<Int(count) { free(names[i]) }
                free(names)
            }
        }
        var sockets: [Socket] = []
        for i in 0..<Int(count) {
            let fd = SD_LISTEN_FDS_START + Int32(i)
            let name = names?[i].map { String(cString: $0) } ?? "unknown"
            _ = fcntl(fd, F_SETFD, fcntl(fd, F_GETFD) | FD_CLOEXEC)
            sockets.append(Socket(name: name, fd: fd))
        }
        return SocketActivation(sockets: sockets)
    }

    public init(sockets: [Socket]) {
        self.sockets = sockets
    }

    /// The first socket passed under `name`.
    public func socket(named name: String) -> Int32? {
        sockets.first { $0.name == name }?.fd
    }

    /// True when `fd` is a listening stream socket (what a listener can take over).
    public static func isListeningStreamSocket(_ fd: Int32) -> Bool {
        sd_is_socket(fd, AF_UNSPEC, Int32(SOCK_STREAM.rawValue), 1) > 0
    }
}
