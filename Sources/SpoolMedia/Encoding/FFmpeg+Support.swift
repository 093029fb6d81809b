import CFFmpeg

/// FFmpeg's message for an error code.
func ffmpegMessage(_ code: Int32) -> String {
    var buffer = [CChar](repeating: 0, count: 256)
    return buffer.withUnsafeMutableBufferPointer { pointer in
        String(cString: spool_av_error_string(code, pointer.baseAddress, pointer.count))
    }
}

/// Throws a ``MediaError`` when an FFmpeg call returned a negative code.
@discardableResult
func check(_ code: Int32, _ operation: @autoclosure () -> String) throws(MediaError) -> Int32 {
    if code < 0 { throw MediaError(operation(), code: code, message: ffmpegMessage(code)) }
    return code
}

/// An AVDictionary of options, freed by ``free()``.
struct FFmpegOptions {
    var pointer: OpaquePointer?

    init(_ pairs: [(String, String)]) {
        for (key, value) in pairs { av_dict_set(&pointer, key, value, 0) }
    }

    /// Options the callee did not recognise, which FFmpeg leaves in the dictionary.
    var unused: [String] {
        var keys: [String] = []
        var entry: UnsafeMutablePointer<AVDictionaryEntry>? = nil
        while let next = av_dict_get(pointer, "", entry, AV_DICT_IGNORE_SUFFIX) {
            keys.append(String(cString: next.pointee.key))
            entry = next
        }
        return keys
    }

    mutating func free() { av_dict_free(&pointer) }
}

extension UnsafeMutablePointer where Pointee == AVFrame {
    /// The frame's plane pointers, as the C array FFmpeg's APIs take.
    var planes: UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?> {
        (UnsafeMutableRawPointer(self) + MemoryLayout<AVFrame>.offset(of: \AVFrame.data)!)
            .assumingMemoryBound(to: UnsafeMutablePointer<UInt8>?.self)
    }

    var strides: UnsafeMutablePointer<Int32> {
        (UnsafeMutableRawPointer(self) + MemoryLayout<AVFrame>.offset(of: \AVFrame.linesize)!)
            .assumingMemoryBound(to: Int32.self)
    }
}
