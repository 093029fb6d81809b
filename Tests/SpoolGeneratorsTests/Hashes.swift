import Crypto
import Foundation

/// `data`'s SHA-256 in hex, as the model workers' traces write what reached their pipelines.
func sha256Hex(_ data: Data) -> String {
    SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
}
