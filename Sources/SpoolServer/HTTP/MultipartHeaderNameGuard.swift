#if canImport(Glibc)
import Glibc
#endif
import NIOCore

/// Follows a `multipart/form-data` body as multipart-kit's parser reads it, and refuses a part
/// header name holding a byte of 0x80 or more before the parser sees it.
///
/// multipart-kit 4.7.1 (the version available here) checks each byte of a header name
/// against a table of 128 entries, indexed by the byte: a byte of 0x80 or more reads past the
/// end and traps, and one request takes the whole daemon down (the schema fuzzer found it with
/// one body to `POST /v1/videos`). The states below mirror the parser's (`MultipartParser`:
/// preamble, headers, body, boundary, epilogue), so the guard knows which bytes the parser
/// will read as a header name. Header values are not touched: a browser sends a non-ASCII file
/// name raw there, and the parser reads values without its table. A part's body, where nearly
/// every byte is, is skipped to its next CR with `memchr`.
struct MultipartHeaderNameGuard {
    private enum State: Equatable {
        /// Before the first boundary, this many of its bytes matched.
        case preamble(Int)
        /// After a boundary: CR, then LF (`expectingLF`).
        case preHeaders(expectingLF: Bool)
        case name(empty: Bool)
        case value
        /// A header value's CR seen: LF next.
        case postValue
        /// The blank line's CR seen: LF next, then the body.
        case postHeaders
        case body
        /// A possible boundary, this many of its bytes matched.
        case boundary(Int)
        /// After the closing boundary, or after the parser has thrown: it reads nothing more.
        case done
    }

    /// `\r\n--` and the boundary, as the parser matches it.
    private let boundary: [UInt8]
    private var state = State.preamble(0)

    init(boundary: String) {
        self.boundary = Array("\r\n--\(boundary)".utf8)
    }

    /// Follows `buffer`'s readable bytes; false when the parser would look one up as a header
    /// name's byte outside its table.
    mutating func admits(_ buffer: ByteBuffer) -> Bool {
        buffer.readableBytesView.withUnsafeBytes { admits($0) }
    }

    mutating func admits(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var index = 0
        let cr: UInt8 = 13, lf: UInt8 = 10, colon: UInt8 = 58
        while index < bytes.count {
            if state == .body {
                // Nothing but a CR can end a body: skip to the next one.
                guard let base = bytes.baseAddress,
                      let found = memchr(base + index, Int32(cr), bytes.count - index)
                else { return true }
                index = base.distance(to: UnsafeRawPointer(found)) + 1
                state = .boundary(1)
                continue
            }
            let byte = bytes[index]
            index += 1
            switch state {
            case .preamble(let matched):
                var next: Int
                if matched == 0, byte == boundary[2] {
                    next = 3
                } else if byte == boundary[matched] {
                    next = matched + 1
                } else if matched > 0, byte == boundary[0] {
                    next = 1
                } else {
                    next = 0
                }
                state = next >= boundary.count ? .preHeaders(expectingLF: false) : .preamble(next)
            case .preHeaders(let expectingLF):
                if !expectingLF && byte == cr {
                    state = .preHeaders(expectingLF: true)
                } else if expectingLF && byte == lf {
                    state = .name(empty: true)
                } else {
                    state = .done
                }
            case .name(let empty):
                if byte == colon && !empty {
                    state = .value
                } else if byte == cr && empty {
                    state = .postHeaders
                } else if byte >= 0x80 {
                    return false
                } else {
                    // A byte the parser's table refuses makes it throw; it reads no further.
                    state = .name(empty: false)
                }
            case .value:
                if byte == cr { state = .postValue }
            case .postValue:
                state = byte == lf ? .name(empty: true) : .done
            case .postHeaders:
                state = byte == lf ? .body : .done
            case .boundary(let matched):
                if matched >= boundary.count {
                    // CR: the next part's headers; a hyphen (the closing boundary) or anything
                    // else (the parser throws): nothing more is read.
                    state = byte == cr ? .preHeaders(expectingLF: true) : .done
                } else if byte == boundary[matched] {
                    state = .boundary(matched + 1)
                } else if byte == boundary[0] {
                    state = .boundary(1)
                } else {
                    state = .body
                }
            case .body, .done:
                return true
            }
        }
        return true
    }
}
