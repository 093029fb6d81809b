import Foundation
import HTTPTypes
import Hummingbird
import MultipartKit
import NIOCore
import SpoolCore
import SpoolMedia

/// A job submitted as `multipart/form-data`: a `job` part holding the job as JSON, and an
/// `image` or `video` part holding the file. File parts stream into the input library's
/// scratch files as they arrive (never whole in memory), each refused the moment it passes
/// its byte limit.
struct MultipartJobForm {
    /// The `job` part's bytes.
    var job: Data
    /// The file parts, by field.
    var uploads: [JobInput.Kind: InputUpload]

    static let fileParts: [String: JobInput.Kind] = ["image": .image, "video": .video]

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
        _ body: RequestBody, boundary: String, library: InputLibrary, maxJobBytes: Int
    ) async throws -> MultipartJobForm {
        let parser = MultipartParser(boundary: boundary)
        var headers: [String: String] = [:]
        var current: String?
        var job = Data()
        var sawJob = false
        var uploads: [JobInput.Kind: InputUpload] = [:]
        var failure: (any Error)?

        func fail(_ error: any Error) {
            if failure == nil { failure = error }
        }
        parser.onHeader = { name, value in headers[name.lowercased()] = value }
        parser.onBody = { buffer in
            guard failure == nil else { return }
            if current == nil {
                do {
                    current = try Self.startPart(headers, library: library, uploads: &uploads, sawJob: &sawJob)
                } catch {
                    return fail(error)
                }
            }
            let bytes = buffer.readableBytesView
            if current == "job" {
                job.append(contentsOf: bytes)
                if job.count > maxJobBytes {
                    fail(APIError(.contentTooLarge, "body_too_large", "the job part is larger than \(maxJobBytes) bytes"))
                }
            } else if let name = current, let kind = fileParts[name], let upload = uploads[kind] {
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
                do { _ = try Self.startPart(headers, library: library, uploads: &uploads, sawJob: &sawJob) } catch { fail(error) }
            }
            headers = [:]
            current = nil
        }
        do {
            for try await buffer in body {
                try parser.execute(buffer)
                if let failure { throw failure }
            }
        } catch {
            for upload in uploads.values { upload.abandon() }
            if error is APIError { throw error }
            throw APIError(.badRequest, "invalid_multipart", "the body is not valid multipart/form-data: \(error)")
        }
        guard sawJob else {
            for upload in uploads.values { upload.abandon() }
            throw APIError(.badRequest, "invalid_multipart", "the form has no \"job\" part: send the job as JSON in a part named job")
        }
        return MultipartJobForm(job: job, uploads: uploads)
    }

    /// Which part begins, from its headers: `job`, `image` or `video`.
    private static func startPart(
        _ headers: [String: String], library: InputLibrary, uploads: inout [JobInput.Kind: InputUpload], sawJob: inout Bool
    ) throws -> String {
        guard let disposition = headers["content-disposition"], let name = parameter("name", in: disposition) else {
            throw APIError(.badRequest, "invalid_multipart", "a part has no Content-Disposition name")
        }
        if name == "job" {
            guard !sawJob else { throw APIError(.badRequest, "invalid_multipart", "the form has two \"job\" parts") }
            sawJob = true
            return name
        }
        guard let kind = fileParts[name] else {
            throw APIError(.badRequest, "invalid_multipart", "unknown part \"\(name)\"; a job form has the parts job, image and video")
        }
        guard uploads[kind] == nil else { throw APIError(.badRequest, "invalid_multipart", "the form has two \"\(name)\" parts") }
        uploads[kind] = try library.upload(kind, name: parameter("filename", in: disposition).map(Self.baseName))
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
