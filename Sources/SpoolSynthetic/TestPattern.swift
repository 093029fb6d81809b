/// Deterministic test frames that carry their own frame index and seed.
///
/// A band across the top holds 16 cells, black or white: cells 0–11 are the frame
/// index's bits (least significant first), cells 12–15 the seed's low four bits. The
/// cells are large and fully saturated so they survive lossy encoding and can be read
/// back from decoded luma (``decode(luma:width:height:)``). Below the band a gradient
/// moves a few pixels a frame, so the video visibly plays.
public enum TestPattern {
    public static let cells = 16
    public static let indexBits = 12
    public static let seedBits = 4

    /// Height of the code band for a frame of `height` rows.
    public static func bandHeight(_ height: Int) -> Int { max(8, height / 6) }

    /// Writes frame `index` of a video with `seed` into `buffer` as RGB24.
    ///
    /// Cheap even in debug builds: one row is computed, the rest are copies and memsets.
    public static func render(
        index: Int, seed: UInt64, width: Int, height: Int, into buffer: UnsafeMutableRawBufferPointer
    ) {
        precondition(buffer.count >= width * height * 3)
        let base = buffer.baseAddress!.assumingMemoryBound(to: UInt8.self)
        let rowBytes = width * 3
        let band = bandHeight(height)
        let cellWidth = width / cells

        // Code band: one row of cells, then copied down.
        for cell in 0..<cells {
            let bit: Bool
            if cell < indexBits {
                bit = (index >> cell) & 1 == 1
            } else {
                bit = (Int(seed & 0xF) >> (cell - indexBits)) & 1 == 1
            }
            let start = cell * cellWidth * 3
            let end = cell == cells - 1 ? rowBytes : (cell + 1) * cellWidth * 3
            (base + start).update(repeating: bit ? 255 : 0, count: end - start)
        }
        for row in 1..<min(band, height) {
            (base + row * rowBytes).update(from: base, count: rowBytes)
        }

        // Moving gradient: one row computed, copied to every row below the band.
        guard band < height else { return }
        let first = base + band * rowBytes
        let shift = index * 4 + Int(seed % 251)
        for x in 0..<width {
            let pixel = first + x * 3
            pixel[0] = UInt8(truncatingIfNeeded: (x + shift) * 2)
            pixel[1] = UInt8(truncatingIfNeeded: 96 + (x + shift) / 2)
            pixel[2] = UInt8(truncatingIfNeeded: 200 - x + Int(seed % 17) * 8)
        }
        for row in (band + 1)..<height {
            (base + row * rowBytes).update(from: first, count: rowBytes)
        }
    }

    /// Reads the frame index and seed bits back from a frame's luma plane (one byte a pixel).
    public static func decode(luma: UnsafeRawBufferPointer, width: Int, height: Int) -> (index: Int, seedBits: Int) {
        let bytes = luma.bindMemory(to: UInt8.self)
        let band = bandHeight(height)
        let cellWidth = width / cells
        var index = 0
        var seed = 0
        for cell in 0..<cells {
            // Average the middle of the cell, away from edges blurred by the encoder.
            var sum = 0
            var count = 0
            for y in (band / 4)..<(band * 3 / 4) {
                for x in (cell * cellWidth + cellWidth / 4)..<(cell * cellWidth + cellWidth * 3 / 4) {
                    sum += Int(bytes[y * width + x])
                    count += 1
                }
            }
            let bit = count > 0 && sum / count > 128 ? 1 : 0
            if cell < indexBits { index |= bit << cell } else { seed |= bit << (cell - indexBits) }
        }
        return (index, seed)
    }
}
