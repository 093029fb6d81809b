/// What to do with frames that consecutive chunks both contain.
public enum OverlapPolicy: String, Sendable, Codable, Hashable {
    /// Keep the frames already emitted; the later chunk's copies are discarded
    /// (SkyReels-V2 diffusion forcing).
    case drop
    /// Linear cross-fade from the earlier chunk's frames to the later one's (FramePack).
    case blend
}
