import Foundation
import SpoolSupport
import SpoolCore
import SpoolGenerators
import SpoolMedia

extension JobExecution {
    /// A job's conditioning, ready for its worker and its encoder.
    struct PreparedInputs {
        var conditioning: WorkerConditioning?
        /// The clip the video starts with, when the job asked to include it.
        var leadingFrames: (path: String, count: Int)?
    }

    /// An input that could not be turned into frames for the worker.
    struct InputPreparationFailed: Error, CustomStringConvertible {
        var field: String
        var input: JobInput
        var host: String
        var error: any Error

        var description: String {
            "the \(field) input (sha256 \(input.sha256)) could not be prepared on host \(host): \(error)"
                + ((error as? InputError)?.reason == .missing || (error as? MediaError)?.code == -2
                    ? "; hosts sharing a queue must share the inputs folder (it is under the videos folder)" : "")
        }
    }

    // MARK: Stage 1½: the inputs

    /// Decodes the job's image or clip, scaled and cropped to its size, into raw RGB24 files in
    /// the job's folder, and maps its prompt schedule onto the pipeline's chunks. Decoding
    /// runs on a thread of its own.
    func prepareInputs(_ plan: Plan) async throws -> PreparedInputs {
        let spec = job.spec
        let schedule = spec.chunkSchedule(plan.pipeline.chunking)?.map { WorkerPrompt(chunk: $0.chunk, prompt: $0.prompt) }
        guard !spec.inputs.isEmpty || schedule != nil else { return PreparedInputs() }
        try FileManager.default.createDirectory(atPath: plan.jobFolder, withIntermediateDirectories: true)
        var conditioning = WorkerConditioning(prompts: schedule, transitionChunks: spec.transitionChunks)
        var leading: (path: String, count: Int)?
        let library = context.inputs
        for (field, input) in [("image", spec.image), ("video", spec.video)] {
            guard let input else { continue }
            let path = "\(plan.jobFolder)/input-\(field).rgb"
            let size = plan.size
            let frames: Int
            do {
                frames = try await onOwnThread("spool-input") { try library.prepare(input, size: size, into: path) }
            } catch {
                throw InputPreparationFailed(field: field, input: input, host: context.configuration.host, error: error)
            }
            library.touch(input.sha256)
            if field == "image" {
                conditioning.imageFile = path
            } else {
                conditioning.videoFile = path
                conditioning.videoFrames = frames
                if spec.includeInput { leading = (path, frames) }
            }
        }
        return PreparedInputs(conditioning: conditioning, leadingFrames: leading)
    }
}
