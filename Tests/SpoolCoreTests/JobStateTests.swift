import SpoolCore
import Testing

@Suite("Job state machine")
struct JobStateTests {
    static let legal: Set<String> = [
        "queued->running", "queued->failed", "queued->cancelled",
        "running->encoding", "running->queued", "running->failed", "running->cancelled",
        "encoding->succeeded", "encoding->queued", "encoding->failed", "encoding->cancelled",
    ]

    @Test("every pair of states is legal exactly when the design says so",
          arguments: JobState.allCases, JobState.allCases)
    func transitions(from: JobState, to: JobState) {
        #expect(from.canTransition(to: to) == Self.legal.contains("\(from)->\(to)"))
    }

    @Test func finalStatesNeverChange() {
        for state in JobState.allCases where state.isFinal {
            #expect(JobState.allCases.allSatisfy { !state.canTransition(to: $0) })
        }
    }

    @Test func failedAndCancelledAreReachableFromEveryLiveState() {
        for state in JobState.allCases where state.isLive {
            #expect(state.canTransition(to: .failed))
            #expect(state.canTransition(to: .cancelled))
        }
    }
}
