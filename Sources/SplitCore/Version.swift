/// The version of splitd and splitctl, printed by `--version` and served by `/healthz`.
public enum SplitdVersion {
    /// Semantic version of this release.
    public static let current = "0.10.0"
}
