enum _PlaceholderWire {}
