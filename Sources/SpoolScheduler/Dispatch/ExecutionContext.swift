import Logging
import SpoolCore
import SpoolGenerators
import SpoolMedia

/// What every attempt on a host shares.
struct ExecutionContext: Sendable {
    let store: any JobStore
    let pipelines: PipelineCatalog
    let configuration: SchedulerConfiguration
    /// Starts every worker, resident or per job.
    let launcher: WorkerLauncher
    let encoders: any VideoEncoderFactory
    /// Jobs' images and clips, decoded for their workers.
    let inputs: InputLibrary
    let limiter: EncoderLimiter
    let events: JobEventHub
    let statistics: SchedulerStatistics
    let clock: any WallClock
    let logger: Logger
    /// Writes every attempt's outcome, and keeps those the store refuses until it takes them.
    let outcomes: OutcomeLedger
    /// The pipeline's worker; simulated only by the fleet simulator and its tests.
    let work: AttemptWork

    /// Every change to a job, written and published together.
    var writes: JobWrites { outcomes.writes }
}
