import Foundation
import SpoolCore

extension JobResource {
    /// This resource as `JSONEncoder.spoolAPI` would encode it, written directly (see
    /// `APIJSONWriter`): the body of every job response.
    public func jsonBytes() -> [UInt8] {
        var writer = APIJSONWriter()
        write(to: &writer)
        return writer.bytes
    }

    // Keys in sorted (UTF-8 byte) order, as `.sortedKeys` writes them.
    func write(to writer: inout APIJSONWriter) {
        writer.object { w in
            w.field("attempts", attempts)
            if let checkpoint {
                w.object("checkpoint") { w in
                    w.field("chunk", checkpoint.chunk)
                    w.field("frame", checkpoint.frame)
                }
            }
            w.field("coldStart", coldStart)
            w.field("error", error)
            w.field("gpu", gpu)
            w.field("gpuSeconds", gpuSeconds)
            w.field("host", host)
            w.field("id", id)
            w.field("loadSeconds", loadSeconds)
            w.field("maxAttempts", maxAttempts)
            w.field("posterURL", posterURL)
            w.object("progress") { w in
                w.field("chunksDone", progress.chunksDone)
                w.field("chunksTotal", progress.chunksTotal)
                w.field("framesDone", progress.framesDone)
                w.field("framesTotal", progress.framesTotal)
                w.field("percent", progress.percent)
            }
            if let quality {
                w.object("quality") { w in
                    w.object("drift") { w in
                        w.field("brightness", quality.drift.brightness)
                        w.field("colour", quality.drift.colour)
                        w.field("contrast", quality.drift.contrast)
                    }
                    w.field("flicker", quality.flicker)
                    w.field("frames", quality.frames)
                    w.field("frozenFrames", quality.frozenFrames)
                    w.field("longestFreeze", quality.longestFreeze)
                    w.field("seamMean", quality.seamMean)
                    w.field("seamWorst", quality.seamWorst)
                    w.field("seamWorstFrame", quality.seamWorstFrame)
                }
            }
            w.field("queuePosition", queuePosition)
            w.field("realTimeFactor", realTimeFactor)
            if let routing { w.object("routing") { routing.write(to: &$0) } }
            w.field("sparedAttempts", sparedAttempts)
            w.object("spec") { w in
                w.field("deadlineSeconds", spec.deadlineSeconds)
                w.field("fps", spec.fps)
                w.field("frames", spec.frames)
                w.field("height", spec.height)
                w.field("idempotencyKey", spec.idempotencyKey)
                if let image = spec.image { w.object("image") { image.write(to: &$0) } }
                w.field("includeInput", spec.includeInput)
                w.field("labels", spec.labels)
                w.field("maxGpuSeconds", spec.maxGpuSeconds)
                w.field("negativePrompt", spec.negativePrompt)
                w.field("options", spec.options)
                w.field("outputName", spec.outputName)
                w.field("pipeline", spec.pipeline)
                w.field("priority", spec.priority)
                w.field("prompt", spec.prompt)
                if let prompts = spec.prompts {
                    w.array("prompts") { w in
                        for entry in prompts {
                            w.element { w in
                                w.object { w in
                                    w.field("at", entry.at)
                                    w.field("prompt", entry.prompt)
                                }
                            }
                        }
                    }
                }
                w.field("seed", spec.seed)
                w.field("tier", spec.tier?.rawValue)
                w.field("timeLimitSeconds", spec.timeLimitSeconds)
                w.field("transitionChunks", spec.transitionChunks)
                if let video = spec.video { w.object("video") { video.write(to: &$0) } }
                w.field("webhook", spec.webhook)
                if let events = spec.webhookEvents {
                    w.array("webhookEvents") { w in
                        for event in events { w.element { $0.value(event.rawValue) } }
                    }
                }
                w.field("width", spec.width)
            }
            w.field("state", state.rawValue)
            w.field("tenant", tenant)
            w.object("timings") { w in
                w.field("encodeTail", timings.encodeTail)
                w.field("encodedAt", timings.encodedAt)
                w.field("finishedAt", timings.finishedAt)
                w.field("firstChunkAt", timings.firstChunkAt)
                w.field("generatedAt", timings.generatedAt)
                w.field("generationTime", timings.generationTime)
                w.field("queueWait", timings.queueWait)
                w.field("startedAt", timings.startedAt)
                w.field("submittedAt", timings.submittedAt)
                w.field("timeToFirstChunk", timings.timeToFirstChunk)
                w.field("totalLatency", timings.totalLatency)
            }
            w.field("videoPath", videoPath)
            w.field("videoURL", videoURL)
            w.field("waitingReason", waitingReason)
        }
    }
}

extension JobRouting {
    func write(to w: inout APIJSONWriter) {
        w.array("candidates") { w in
            for candidate in candidates {
                w.element { w in
                    w.object { w in
                        w.field("estimatedGpuSeconds", candidate.estimatedGpuSeconds)
                        w.field("estimatedSeconds", candidate.estimatedSeconds)
                        w.field("fits", candidate.fits)
                        w.field("pipeline", candidate.pipeline)
                        w.field("reason", candidate.reason)
                    }
                }
            }
        }
        w.field("chosen", chosen)
        w.field("deadlineSeconds", deadlineSeconds)
        w.field("maxGpuSeconds", maxGpuSeconds)
        w.array("moves") { w in
            for move in moves {
                w.element { w in
                    w.object { w in
                        w.field("afterAttempt", move.afterAttempt)
                        w.field("error", move.error)
                        w.field("from", move.from)
                        w.field("to", move.to)
                    }
                }
            }
        }
        w.field("reason", reason)
        w.field("sizeGiven", sizeGiven)
        w.field("tier", tier.rawValue)
    }
}

extension JobInput {
    func write(to w: inout APIJSONWriter) {
        w.field("bytes", bytes)
        w.field("codec", codec)
        w.field("frames", frames)
        w.field("height", height)
        w.field("kind", kind?.rawValue)
        w.field("name", name)
        w.field("sha256", sha256)
        w.field("width", width)
    }
}

extension JobList {
    /// This page as `JSONEncoder.spoolAPI` would encode it, written directly.
    public func jsonBytes() -> [UInt8] {
        var writer = APIJSONWriter(capacity: 1_024 * max(1, jobs.count))
        writer.object { w in
            w.array("jobs") { w in
                for job in jobs { w.element { job.write(to: &$0) } }
            }
            w.field("nextCursor", nextCursor)
        }
        return writer.bytes
    }
}
