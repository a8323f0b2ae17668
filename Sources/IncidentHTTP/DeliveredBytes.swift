import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// How many bytes a connection's peer has taken: the kernel's count of bytes it acknowledged
/// (Linux `tcp_info.tcpi_bytes_acked`, read with getsockopt `TCP_INFO`).
///
/// A stream's reader can take megabytes out of the socket's send queue (on loopback it grows to
/// 4 MB) before the channel's own buffer moves, so the channel's buffered bytes do not show a
/// reader that reads steadily but slowly. The acknowledged bytes move with each read.
enum DeliveredBytes {
    /// The head of Linux's `struct tcp_info` (linux/tcp.h) through `tcpi_bytes_acked`, which
    /// glibc's older copy of the struct lacks. Eight one-byte fields, 24 `__u32`, then the
    /// `__u64`s `tcpi_pacing_rate`, `tcpi_max_pacing_rate` and `tcpi_bytes_acked` at byte 120:
    /// word 15 of 16. The kernel fills as much as is asked for; one older than 4.1 fills less,
    /// and the word stays 0.
    struct TCPInfoHead: Sendable {
        var words: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)

        var bytesAcknowledged: UInt64 { words.15 }
    }

    /// The bytes `channel`'s peer has acknowledged; nil when the channel is not a TCP socket
    /// (a Unix socket from socket activation) or the kernel does not count them.
    static func acknowledged(by channel: any Channel) async -> UInt64? {
        #if os(Linux)
        guard let provider = channel as? any SocketOptionProvider else { return nil }
        let future: EventLoopFuture<TCPInfoHead> = provider.unsafeGetSocketOption(
            level: SocketOptionLevel(IPPROTO_TCP), name: SocketOptionName(TCP_INFO))
        guard let info = try? await future.get(), info.bytesAcknowledged > 0 else { return nil }
        return info.bytesAcknowledged
        #else
        return nil
        #endif
    }
}
