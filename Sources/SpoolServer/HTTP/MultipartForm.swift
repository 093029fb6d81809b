import Foundation
import HTTPTypes
import Hummingbird
import MultipartKit
import NIOCore
import SpoolCore
import SpoolMedia

/// A `multipart/form-data` body read as its layout says: small text fields kept in memory
/// (each up to a byte limit), file parts streamed into the input library's scratch files as
/// they arrive (never whole in memory), each refused the moment it passes its byte limit.
struct MultipartForm {
    /// Which parts a form may have.
    struct Layout {
        /// Text fields, kept in memory.
        var fields: Set<String>
        /// File parts, by name, and the kind of input each is.
        var files: [String: JobInput.Kind]
        /// Fields the form must have.
        var required: Set<String>
        /// What the form is, for errors: "a job form".
        var what: String
        /// What to do about a missing required field, for errors.
        var missingHint: String = ""

        var names: [String] { (fields.sorted() + files.keys.sorted()) }
    }

    /// The text fields' bytes, by name.
    var fields: [String: Data]
    /// The file parts, by name.
    var uploads: [String: InputUpload]

    /// Abandons every upload (a refused form leaves no scratch file).
    func abandon() {
        for upload in uploads.values { upload.abandon() }
    }

    /// A text field as UTF-8 text.
    func text(_ name: String) -> String? { fields[name].map { String(decoding: $0, as: UTF8.self) } }

    /// The boundary of a `multipart/form-data` content type, or nil for any other.
    static func boundary(of contentType: String?) -> String? {
        guard let contentType else { return nil }
        let parts = contentType.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
        guard parts.first?.lowercased() == "multipart/form-data" else { return nil }
        for part in parts.dropFirst() {
            let pair = part.split(separator: "=", maxSplits: 1).map(String.init)
            if pair.count == 2, pair[0].lowercased() == "boundary" {
                let value = pair[1].trimmingCharacters(in: CharacterSet(charactersIn: "\""))
                return value.isEmpty ? nil : value
            }
        }
        return nil
    }

    /// Reads the whole form; on any error the scratch files are gone.
    static func read(
        _ body: RequestBody, boundary: String, layout: Layout, library: InputLibrary, maxFieldBytes: Int
    ) async throws -> MultipartForm {
        let parser = MultipartParser(boundary: boundary)
        var headerNames = MultipartHeaderNameGuard(boundary: boundary)
        var headers: [String: String] = [:]
        var current: String?
        var fields: [String: Data] = [:]
        var uploads: [String: InputUpload] = [:]
        var failure: (any Error)?

        func fail(_ error: any Error) {
            if failure == nil { failure = error }
        }
        parser.onHeader = { name, value in headers[name.lowercased()] = value }
        parser.onBody = { buffer in
            guard failure == nil else { return }
            if current == nil {
                do {
                    current = try Self.startPart(headers, layout: layout, library: library, fields: &fields, uploads: &uploads)
                } catch {
                    return fail(error)
                }
            }
            let bytes = buffer.readableBytesView
            if let name = current, layout.fields.contains(name) {
                fields[name, default: Data()].append(contentsOf: bytes)
                if fields[name]!.count > maxFieldBytes {
                    fail(APIError(.contentTooLarge, "body_too_large", "the \(name) part is larger than \(maxFieldBytes) bytes"))
                }
            } else if let name = current, let upload = uploads[name] {
                do {
                    try bytes.withUnsafeBytes { try upload.write($0) }
                } catch let error as InputError {
                    fail(APIError(.contentTooLarge, "input_too_large", "\(error.field) \(error.message)",
                                  issues: [ValidationIssue(field: error.field, reason: error.message)]))
                } catch {
                    fail(error)
                }
            }
            buffer.moveReaderIndex(forwardBy: buffer.readableBytes)
        }
        parser.onPartComplete = {
            if failure == nil && current == nil {
                // A part with no body at all.
                do { _ = try Self.startPart(headers, layout: layout, library: library, fields: &fields, uploads: &uploads) } catch { fail(error) }
            }
            headers = [:]
            current = nil
        }
        do {
            for try await buffer in body {
                guard headerNames.admits(buffer) else {
                    throw APIError(.badRequest, "invalid_multipart", "a part's header name holds a byte that is not ASCII")
                }
                try parser.execute(buffer)
                if let failure { throw failure }
            }
        } catch {
            for upload in uploads.values { upload.abandon() }
            if error is APIError { throw error }
            throw APIError(.badRequest, "invalid_multipart", "the body is not valid multipart/form-data: \(error)")
        }
        if let missing = layout.required.subtracting(fields.keys).sorted().first {
            for upload in uploads.values { upload.abandon() }
            throw APIError(.badRequest, "invalid_multipart", "the form has no \"\(missing)\" part\(layout.missingHint)")
        }
        return MultipartForm(fields: fields, uploads: uploads)
    }

    /// Which part begins, from its headers: one the layout names, once.
    private static func startPart(
        _ headers: [String: String], layout: Layout, library: InputLibrary, fields: inout [String: Data],
        uploads: inout [String: InputUpload]
    ) throws -> String {
        guard let disposition = headers["content-disposition"], let name = parameter("name", in: disposition) else {
            throw APIError(.badRequest, "invalid_multipart", "a part has no Content-Disposition name")
        }
        guard fields[name] == nil && uploads[name] == nil else {
            throw APIError(.badRequest, "invalid_multipart", "the form has two \"\(name)\" parts")
        }
        if layout.fields.contains(name) {
            fields[name] = Data()
            return name
        }
        guard let kind = layout.files[name] else {
            throw APIError(.badRequest, "invalid_multipart", "unknown part \"\(name)\"; \(layout.what) has the parts \(layout.names.joined(separator: ", "))")
        }
        uploads[name] = try library.upload(kind, name: parameter("filename", in: disposition).map(Self.baseName))
        return name
    }

    /// A parameter of a Content-Disposition value: `name="image"` gives `image`.
    static func parameter(_ key: String, in value: String) -> String? {
        for part in value.split(separator: ";").dropFirst() {
            let pair = part.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard pair.count == 2, pair[0].lowercased() == key else { continue }
            var text = pair[1]
            if text.hasPrefix("\""), text.hasSuffix("\""), text.count >= 2 { text = String(text.dropFirst().dropLast()) }
            return text
        }
        return nil
    }

    /// A file name without any folder a client put in front of it, at most 128 characters.
    static func baseName(_ name: String) -> String {
        let base = name.split(whereSeparator: { $0 == "/" || $0 == "\\" }).last.map(String.init) ?? name
        return String(String.UnicodeScalarView(base.unicodeScalars.prefix(128)))
    }
}
