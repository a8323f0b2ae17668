enum _PlaceholderIncidentServer {}
