/// incidentctl's argument list, rewritten before the argument parser reads it, for habits the
/// parser does not know: connection options before the subcommand (`incidentctl --node H:P
/// status`, as redis-cli and git take them) and misspelt subcommands.
///
/// A command path is a subcommand's names from the top, e.g. `["status"]` or `["bench", "append"]`.
public enum IncidentctlArguments {
    /// The options of every node-talking subcommand, each followed by a value.
    public static let connectionOptions: Set<String> = ["--node", "--token", "--tls-ca"]

    /// `arguments` (without the program name) with the connection options given before the
    /// subcommand moved to just after the longest command path that follows them, where the
    /// parser reads a subcommand's options. Anything else is left as it is.
    public static func movingLeadingConnectionOptions(_ arguments: [String], paths: [[String]]) -> [String] {
        var leading: [String] = []
        var i = 0
        while i < arguments.count {
            let a = arguments[i]
            if connectionOptions.contains(a), i + 1 < arguments.count {
                leading += [a, arguments[i + 1]]
                i += 2
            } else if let equals = a.firstIndex(of: "="), connectionOptions.contains(String(a[..<equals])) {
                leading.append(a)
                i += 1
            } else {
                break
            }
        }
        guard !leading.isEmpty else { return arguments }
        let rest = Array(arguments[i...])
        let pathLength = paths.filter { rest.starts(with: $0) }.map(\.count).max() ?? 0
        return Array(rest[..<pathLength]) + leading + Array(rest[pathLength...])
    }

    /// The first word of `arguments` that should name a subcommand but names none, with the
    /// nearest subcommand name (at most two edits away, and at most a third of its length);
    /// nil when the words name a subcommand, or when nothing is near enough to suggest.
    public static func misspeltSubcommand(_ arguments: [String], paths: [[String]]) -> (given: String, suggestion: String)? {
        var prefix: [String] = []
        for word in arguments {
            let children = Set(paths.filter { $0.count == prefix.count + 1 && $0.starts(with: prefix) }.map { $0[prefix.count] })
            if children.isEmpty || word.hasPrefix("-") { return nil }
            if prefix.isEmpty && word == "help" { return nil }
            if children.contains(word) {
                prefix.append(word)
                continue
            }
            let ranked = children.map { (name: $0, distance: editDistance(word, $0)) }
                .filter { $0.distance <= 2 && $0.distance * 3 <= $0.name.count }
                .sorted { ($0.distance, $0.name) < ($1.distance, $1.name) }
            return ranked.first.map { (given: word, suggestion: $0.name) }
        }
        return nil
    }

    /// Edits (insertions, deletions, substitutions and swaps of two neighbours) from a to b.
    public static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var d = [[Int]](repeating: [Int](repeating: 0, count: b.count + 1), count: a.count + 1)
        for i in 0...a.count { d[i][0] = i }
        for j in 0...b.count { d[0][j] = j }
        for i in 1...a.count {
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] { d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1) }
            }
        }
        return d[a.count][b.count]
    }
}
