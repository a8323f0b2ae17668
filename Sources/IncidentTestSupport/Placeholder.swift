enum _PlaceholderIncidentTestSupport {}
