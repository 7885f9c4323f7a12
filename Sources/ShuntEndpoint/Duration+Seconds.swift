extension Duration {
    /// The duration in seconds, for `Date` arithmetic and for lines a person reads.
    var inSeconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
