import SpoolCore

/// Measures a video's ``VideoQuality`` frame by frame, as the encoder sees it: a plain value
/// fed each RGB24 frame with the chunk it came from.
///
/// Each frame is sampled on a grid of at most 128 columns (every `step`-th pixel of every
/// `step`-th row): its luma (BT.601 weights, in integers), mean colour and luma spread are
/// kept, so the cost is a few microseconds a frame and the memory a few numbers a frame.
public struct QualityMeter: Sendable {
    public let size: FrameSize
    let step: Int
    private var previous: [UInt8] = []
    private var current: [UInt8] = []
    /// For frame i > 0: the mean absolute luma difference from frame i − 1.
    private var differences: [Double] = []
    /// For frame i > 0: whether it starts a new chunk.
    private var boundaries: [Bool] = []
    private var lastChunk: Int?
    private var stats: [FrameStats] = []

    struct FrameStats: Sendable {
        var luma: Double
        var spread: Double
        var redGreen: Double
        var blueGreen: Double
    }

    /// The difference under which a frame counts as a repeat of the one before, in levels.
    public static let frozenBelow = 0.25
    /// A seam is measured against at least this within-chunk difference, in levels: a still
    /// video's tiny motion does not make every boundary look like a jump.
    public static let quietFloor = 0.5

    public init(size: FrameSize) {
        self.size = size
        step = max(1, size.width / 128)
        let samples = ((size.width + step - 1) / step) * ((size.height + step - 1) / step)
        previous.reserveCapacity(samples)
        current.reserveCapacity(samples)
    }

    /// Adds the next frame (`width·height·3` bytes of RGB24), made by chunk `chunk`.
    public mutating func add(_ rgb: UnsafeRawBufferPointer, chunk: Int) {
        let width = size.width, height = size.height
        current.removeAll(keepingCapacity: true)
        var sum = 0, squares = 0, red = 0, green = 0, blue = 0
        let bytes = rgb.baseAddress!.assumingMemoryBound(to: UInt8.self)
        var y = 0
        while y < height {
            let row = bytes + y * width * 3
            var x = 0
            while x < width {
                let r = Int(row[x * 3]), g = Int(row[x * 3 + 1]), b = Int(row[x * 3 + 2])
                let luma = (77 * r + 150 * g + 29 * b) >> 8
                current.append(UInt8(luma))
                sum += luma
                squares += luma * luma
                red += r
                green += g
                blue += b
                x += step
            }
            y += step
        }
        let n = Double(current.count)
        let mean = Double(sum) / n
        stats.append(FrameStats(
            luma: mean, spread: (Double(squares) / n - mean * mean).squareRoot(),
            redGreen: Double(red - green) / n, blueGreen: Double(blue - green) / n))
        if !previous.isEmpty {
            var total = 0
            for index in current.indices { total += abs(Int(current[index]) - Int(previous[index])) }
            differences.append(Double(total) / n)
            boundaries.append(chunk != lastChunk)
        }
        lastChunk = chunk
        swap(&previous, &current)
    }

    /// The video's quality; nil before a frame.
    public func result() -> VideoQuality? {
        guard !stats.isEmpty else { return nil }
        let within = differences.indices.filter { !boundaries[$0] }.map { differences[$0] }.sorted()
        let median = within.isEmpty ? 0 : within[within.count / 2]
        let baseline = max(median, Self.quietFloor)
        let seams = differences.indices.filter { boundaries[$0] }.map { (frame: $0 + 1, ratio: differences[$0] / baseline) }
        let worst = seams.max { $0.ratio < $1.ratio }
        var frozen = 0, run = 0, longest = 0
        for difference in differences {
            if difference < Self.frozenBelow {
                frozen += 1
                run += 1
                longest = max(longest, run)
            } else {
                run = 0
            }
        }
        let tail = max(1, stats.count * 15 / 100)
        func mean(_ part: ArraySlice<FrameStats>, _ value: (FrameStats) -> Double) -> Double {
            part.reduce(0) { $0 + value($1) } / Double(part.count)
        }
        let first = stats.prefix(tail), last = stats.suffix(tail)
        func moved(_ value: (FrameStats) -> Double) -> Double { mean(last, value) - mean(first, value) }
        let firstSpread = mean(first, \.spread)
        let (redGreen, blueGreen) = (moved(\.redGreen), moved(\.blueGreen))
        let drift = VideoQuality.Drift(
            brightness: moved(\.luma),
            contrast: firstSpread > 0 ? mean(last, \.spread) / firstSpread : 1,
            colour: (redGreen * redGreen + blueGreen * blueGreen).squareRoot())
        return VideoQuality(
            seamWorst: worst?.ratio, seamMean: seams.isEmpty ? nil : seams.reduce(0) { $0 + $1.ratio } / Double(seams.count),
            seamWorstFrame: worst?.frame,
            flicker: differences.isEmpty ? 0 : differences.reduce(0, +) / Double(differences.count),
            frozenFrames: frozen, longestFreeze: longest, drift: drift, frames: stats.count)
    }
}
