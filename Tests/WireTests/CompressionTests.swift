import Testing

@testable import Wire

@Suite("Compression")
struct CompressionTests {
    @Test func roundTripWithAndWithoutDictionary() throws {
        let deflater = try Deflater()
        let inflater = try Inflater()
        let text = Array(Fixtures.sampleEvent().raw!.utf8)
        for dictionary in [nil, PresetDictionary.authV1.bytes] {
            let z = try deflater.compress(text, dictionary: dictionary)
            #expect(try inflater.decompress(z[...], dictionary: dictionary, limit: .default) == text)
        }
        // The dictionary is what makes one small line compress.
        let plain = try deflater.compress(text, dictionary: nil).count
        let withDictionary = try deflater.compress(text, dictionary: PresetDictionary.authV1.bytes).count
        #expect(withDictionary < plain)
        #expect(withDictionary < text.count / 2)
    }

    @Test func bombRefusedAtTheLimit() throws {
        let zeros = [UInt8](repeating: 0, count: 50 << 20)
        let bomb = try Deflater(level: 9).compress(zeros, dictionary: nil)
        #expect(bomb.count < 100_000)
        let inflater = try Inflater()
        let clock = ContinuousClock()
        let elapsed = clock.measure {
            #expect(throws: WireError.decompressionLimit) {
                try inflater.decompress(bomb[...], dictionary: nil, limit: DecompressionLimit(maxBytes: 1 << 20, maxRatio: 1000))
            }
        }
        // Stopping at 1 MiB takes a small fraction of inflating 50 MiB.
        #expect(elapsed < .seconds(2))
        // The ratio bound applies below the absolute one.
        let ratio = try Deflater().compress([UInt8](repeating: 7, count: 200_000), dictionary: nil)
        #expect(throws: WireError.decompressionLimit) {
            try inflater.decompress(ratio[...], dictionary: nil, limit: DecompressionLimit(maxBytes: 1 << 20, maxRatio: 10, ratioFloorBytes: 1024))
        }
        // Still usable afterwards.
        let ok = try Deflater().compress(Array("fine".utf8), dictionary: nil)
        #expect(try inflater.decompress(ok[...], dictionary: nil, limit: .default) == Array("fine".utf8))
    }

    @Test func truncatedCorruptAndTrailingRefused() throws {
        let z = try Deflater().compress(Array(String(repeating: "abc def ", count: 100).utf8), dictionary: nil)
        let inflater = try Inflater()
        #expect(throws: WireError.compression) { try inflater.decompress(z.dropLast(3), dictionary: nil, limit: .default) }
        #expect(throws: WireError.compression) { try inflater.decompress((z + [1, 2, 3])[...], dictionary: nil, limit: .default) }
        #expect(throws: WireError.compression) { try inflater.decompress([0xFF, 0xFF, 0xFF][...], dictionary: nil, limit: .default) }
        // Wrong dictionary: refused or different output, never a crash.
        let withDict = try Deflater().compress(Array("Failed password for root".utf8), dictionary: PresetDictionary.authV1.bytes)
        let other = try? inflater.decompress(withDict[...], dictionary: Array("nothing alike".utf8), limit: .default)
        #expect(other != Array("Failed password for root".utf8))
    }

    @Test func lifecycleCloseIsIdempotent() throws {
        let d = try Deflater()
        d.close()
        d.close()
        #expect(throws: WireError.compression) { try d.compress([1], dictionary: nil) }
        let i = try Inflater()
        i.close()
        i.close()
        #expect(throws: WireError.compression) { try i.decompress([1][...], dictionary: nil, limit: .default) }
        for _ in 0..<1000 { _ = try Deflater(); _ = try Inflater() }  // deinit ends each stream
    }
}
