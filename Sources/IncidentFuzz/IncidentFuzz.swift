// The libFuzzer target over the parsers that read untrusted bytes (docs/SECURITY.md) and, in a normal build, a replay tool for its inputs.
//
// Why a compilation condition: libFuzzer is linked only when the target is built with
// `-sanitize=fuzzer`, yet a plain `swift build` builds every target, without sanitizers, so this
// target must also be a complete executable without libFuzzer. `#if canImport(…)` cannot tell the
// two builds apart (libFuzzer is a C runtime, not a module), so `make fuzz` passes a condition of
// its own, `-D INCIDENT_FUZZING`, with `-sanitize=fuzzer,address`.
//
// Why `main` calls `LLVMFuzzerRunDriver` instead of leaving `main` to libFuzzer: SwiftPM links
// every executable target with `--defsym main=<Module>_main` (so that tests can link the module),
// which fails when the module has no `@main` — the `-parse-as-library`, no-`main` recipe does not
// link. libFuzzer's documented alternative is a program that owns `main` and hands argc/argv to
// `LLVMFuzzerRunDriver`; its flags (`-max_total_time`, corpus directories, …) all work unchanged.
// Declaring that C function needs `@_extern(c)`, hence `-enable-experimental-feature Extern` in
// `make fuzz` (the block below is inactive in a normal build, which needs no such flag).
//
// Built normally it is `IncidentFuzz FILE|DIR …`: every harness over each file (or each file of a
// directory), exit status 1 on a property violation — a crash input re-run without sanitizers.
// `make test` checks the seed corpus through `FuzzHarness` directly (Tests/FuzzRegressionTests).

#if INCIDENT_FUZZING

#if canImport(Glibc)
import Glibc
#endif

/// libFuzzer's per-input callback: a property violation is a crash, so libFuzzer keeps the input.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    do {
        try FuzzHarness.run(UnsafeBufferPointer(start: data, count: size))
    } catch {
        fatalError("\(error)")
    }
    return 0
}

/// libFuzzer's driver: reads its flags and corpus directories from argv, then calls `callback`
/// once per input until a crash or a limit.
@_extern(c, "LLVMFuzzerRunDriver")
func runFuzzerDriver(
    _ argc: UnsafeMutablePointer<Int32>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
) -> Int32

@main
struct IncidentFuzz {
    static func main() {
        var argc = CommandLine.argc
        var argv = CommandLine.unsafeArgv
        exit(runFuzzerDriver(&argc, &argv, fuzzTestOneInput))
    }
}

#else

import Foundation

@main
struct IncidentFuzz {
    static func main() {
        let arguments = CommandLine.arguments.dropFirst()
        guard !arguments.isEmpty else {
            FileHandle.standardError.write(
                Data("usage: IncidentFuzz FILE|DIR …  (replays inputs through every harness)\n".utf8))
            exit(2)
        }
        var inputs = 0
        var violations = 0
        for path in arguments.flatMap(files(at:)) {
            guard let data = FileManager.default.contents(atPath: path) else {
                FileHandle.standardError.write(Data("\(path): cannot read\n".utf8))
                exit(2)
            }
            inputs += 1
            do {
                try FuzzHarness.run([UInt8](data))
            } catch {
                violations += 1
                print("\(path): \(error)")
            }
        }
        print("\(inputs) inputs, \(violations) property violations")
        exit(violations == 0 ? 0 : 1)
    }

    /// The path itself, or the regular files directly inside it when it is a directory.
    static func files(at path: String) -> [String] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
            return [path]
        }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        return names.sorted().map { "\(path)/\($0)" }
    }
}

#endif
