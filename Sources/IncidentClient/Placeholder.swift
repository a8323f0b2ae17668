enum _PlaceholderIncidentClient {}
