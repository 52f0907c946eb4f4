import Foundation
import Platform

/// Files written so that a crash at any instant leaves either the old or the new content:
/// write a temporary file, sync it, rename it over the target, sync the directory.
enum Durable {
    static func write(_ data: Data, to path: String) throws {
        do {
            try data.withUnsafeBytes { try WrittenFile.replace(path, with: $0) }
        } catch let error as FileWriteError {
            throw EdgeError(error.description)
        }
    }
}
