public import Exports

extension IncidentConnection {
    /// Writes every incident (of `sector`, else all) in `format`, fetching the `incidents` view
    /// page by page (newest occurred_at first) and handing `write` each part as it is ready.
    /// Returns how many incidents were written.
    ///
    /// The pages follow the view's cursor, so an incident is written at most once even while
    /// events arrive; one reported meanwhile may be missing, as from any query.
    @discardableResult
    public func exportIncidents(
        format: ExportFormat, sector: String?, pageSize: Int = 1000, write: ([UInt8]) throws -> Void
    ) async throws -> Int {
        var exporter = IncidentExporter(format: format)
        try write(exporter.begin())
        var cursor: String? = nil
        repeat {
            let response = try await request(Requests.incidents(sector: sector, limit: pageSize, cursor: cursor))
            let page = IncidentExporter.page(response["view"] ?? .null)
            try write(exporter.append(page.rows))
            cursor = page.nextCursor
        } while cursor != nil
        try write(exporter.end())
        return exporter.count
    }
}
