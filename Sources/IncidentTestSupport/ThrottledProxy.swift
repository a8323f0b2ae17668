public import IncidentBench

/// The slow-link proxy of the tests is `LinkProxy` (Sources/IncidentBench/LinkProxy.swift), which
/// `incidentctl bench link` uses too: `ThrottledProxy.start(to:bytesPerSecond:)` paces both
/// directions at that rate, without latency or cuts; `start(to:profile:)` takes a `LinkProfile`.
public typealias ThrottledProxy = LinkProxy
