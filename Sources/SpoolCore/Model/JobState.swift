/// Where a job is in its life.
///
/// ```
/// queued -> running -> encoding -> succeeded
///   |          |           |
///   +----------+-----------+--> failed | cancelled
/// running -> queued   (retry after a failed attempt, or a lost host)
/// encoding -> queued  (a lost host: the partial video died with it)
/// ```
public enum JobState: String, Sendable, Codable, CaseIterable, CustomStringConvertible {
    case queued
    /// A worker holds a GPU slot and is generating; frames are encoded as they arrive.
    case running
    /// Generation is over and the slot released; the encoder is finishing the MP4.
    case encoding
    case succeeded
    case failed
    case cancelled

    /// Final states never change again.
    public var isFinal: Bool {
        switch self {
        case .succeeded, .failed, .cancelled: true
        case .queued, .running, .encoding: false
        }
    }

    public var isLive: Bool { !isFinal }

    /// States whose job holds (or held, if its host died) resources on some host.
    public var isActive: Bool { self == .running || self == .encoding }

    /// Whether `self -> next` is a legal transition. Everything else is an error.
    public func canTransition(to next: JobState) -> Bool {
        switch (self, next) {
        case (.queued, .running), (.queued, .failed), (.queued, .cancelled):
            true
        case (.running, .encoding), (.running, .queued), (.running, .failed), (.running, .cancelled):
            true
        case (.encoding, .succeeded), (.encoding, .queued), (.encoding, .failed), (.encoding, .cancelled):
            true
        default:
            false
        }
    }

    public var description: String { rawValue }
}
