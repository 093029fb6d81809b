/// The latest point a job can go on from: after chunk `chunk`, with frames `0..<frame` final,
/// and the worker's state there kept (durably, where every host of a shared queue sees it) at
/// `stateFile`. Set by a running attempt of a pipeline with `"checkpoints": true`; removed with
/// the job's files when it ends.
public struct JobCheckpoint: Hashable, Sendable, Codable {
    public var chunk: Int
    public var frame: Int
    public var stateFile: String

    public init(chunk: Int, frame: Int, stateFile: String) {
        self.chunk = chunk
        self.frame = frame
        self.stateFile = stateFile
    }
}
