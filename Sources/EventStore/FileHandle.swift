#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Thin POSIX helpers: the store needs exact control over write, fdatasync and rename, which
/// Foundation's FileHandle does not give. A few are `package`: the backup writes its copy with
/// them.
package enum POSIX {
    package static func errnoText(_ code: Int32 = errno) -> String { String(cString: strerror(code)) }

    /// Names the calling thread for `top -H`, perf and /proc (best effort; Linux keeps 15
    /// bytes). Foundation's `Thread.name` does not reach the thread on Linux, and Glibc's
    /// `pthread_setname_np` is not visible to Swift, so this writes the name to
    /// `/proc/thread-self/comm`, which is what that call does.
    package static func nameThisThread(_ name: String) {
        let fd = open("/proc/thread-self/comm", O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { return }
        defer { close(fd) }
        let bytes = Array(name.utf8.prefix(15))
        _ = bytes.withUnsafeBytes { writeAll(fd, $0) }
    }

    /// Writes all of `bytes` at the current position, retrying short writes and EINTR.
    package static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Int32? {
        var done = 0
        while done < bytes.count {
            let n = write(fd, bytes.baseAddress! + done, bytes.count - done)
            if n < 0 {
                if errno == EINTR { continue }
                return errno
            }
            done += n
        }
        return nil
    }

    /// Writes all of `bytes` at `offset` (the file position is not used), retrying short writes
    /// and EINTR.
    static func pwriteAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, offset: UInt64) -> Int32? {
        var done = 0
        while done < bytes.count {
            let n = pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(offset) + off_t(done))
            if n < 0 {
                if errno == EINTR { continue }
                return errno
            }
            done += n
        }
        return nil
    }

    /// Writes `count` zero bytes at `offset`, a MiB at a time.
    static func writeZeros(_ fd: Int32, count: UInt64, offset: UInt64) -> Int32? {
        let zeros = [UInt8](repeating: 0, count: Int(min(count, 1 << 20)))
        var done: UInt64 = 0
        while done < count {
            let n = Int(min(count - done, UInt64(zeros.count)))
            if let code = zeros.withUnsafeBytes({ pwriteAll(fd, UnsafeRawBufferPointer(rebasing: $0[..<n]), offset: offset + done) }) {
                return code
            }
            done += UInt64(n)
        }
        return nil
    }

    static func preadAll(_ fd: Int32, count: Int, offset: UInt64) -> [UInt8]? {
        var out = [UInt8](repeating: 0, count: count)
        var done = 0
        let ok = out.withUnsafeMutableBytes { buf -> Bool in
            while done < count {
                let n = pread(fd, buf.baseAddress! + done, count - done, off_t(offset) + off_t(done))
                if n < 0 {
                    if errno == EINTR { continue }
                    return false
                }
                if n == 0 { return false }
                done += n
            }
            return true
        }
        return ok ? out : nil
    }

    static func syncData(_ fd: Int32) -> Int32? {
        #if canImport(Glibc)
        return fdatasync(fd) == 0 ? nil : errno
        #else
        return fsync(fd) == 0 ? nil : errno
        #endif
    }

    package static func fsyncDirectory(_ path: String) -> Int32? {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return errno }
        defer { close(fd) }
        return fsync(fd) == 0 ? nil : errno
    }

    static func fileSize(_ fd: Int32) -> UInt64? {
        var st = stat()
        guard fstat(fd, &st) == 0 else { return nil }
        return UInt64(st.st_size)
    }

    static func readWholeFile(_ path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        guard let size = fileSize(fd) else { return nil }
        if size == 0 { return [] }
        return preadAll(fd, count: Int(size), offset: 0)
    }

    package static func listDirectory(_ path: String) -> [String]? {
        guard let dir = opendir(path) else { return nil }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    static func makeDirectory(_ path: String) -> Int32? {
        if mkdir(path, 0o750) == 0 || errno == EEXIST { return nil }
        return errno
    }

    /// Bytes available to an unprivileged writer on the file system that holds `path`.
    static func freeBytes(_ path: String) -> UInt64? {
        var s = statvfs()
        guard statvfs(path, &s) == 0 else { return nil }
        return UInt64(s.f_bavail) * UInt64(s.f_frsize)
    }
}
