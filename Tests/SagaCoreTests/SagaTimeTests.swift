import Foundation
import SagaCore
import Testing

/// `SagaTime.iso`, the timestamps of order events and the sagas API, against Foundation's own
/// formatting of the same instant.
@Suite struct SagaTimeTests {
    static let reference: DateFormatter = {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.calendar = Calendar(identifier: .gregorian)
        formatter.dateFormat = "yyyy-MM-dd'T'HH:mm:ss.SSS'Z'"
        return formatter
    }()

    static func expected(_ milliseconds: Int64) -> String {
        reference.string(from: Date(timeIntervalSince1970: Double(milliseconds) / 1000))
    }

    @Test func itIsUTCToTheMillisecond() {
        #expect(SagaTime(millisecondsSince1970: 0).iso == "1970-01-01T00:00:00.000Z")
        #expect(SagaTime(millisecondsSince1970: 1_795_707_088_974).iso == "2026-11-26T15:31:28.974Z")
        #expect(SagaTime(millisecondsSince1970: -1).iso == "1969-12-31T23:59:59.999Z")
        #expect(SagaTime(millisecondsSince1970: 951_782_400_005).iso == "2000-02-29T00:00:00.005Z")
    }

    /// Leap days, month and year ends from 1600 to 2400, and instants drawn at random in between.
    @Test func itAgreesWithFoundationAcrossCenturies() {
        var instants: [Int64] = []
        for year in stride(from: 1600, through: 2400, by: 7) + [1900, 2000, 2100, 2024, 2026] {
            for (month, day) in [(1, 1), (2, 28), (2, 29), (3, 1), (12, 31)] {
                var parts = DateComponents(calendar: Self.reference.calendar, timeZone: Self.reference.timeZone, year: year, month: month, day: day)
                parts.hour = 23
                parts.minute = 59
                parts.second = 59
                guard let date = parts.date else { continue }
                instants.append(Int64((date.timeIntervalSince1970 * 1000).rounded()) + 999)
            }
        }
        var generator = SystemRandomNumberGenerator()
        instants += (0..<2_000).map { _ in Int64.random(in: -11_676_096_000_000...13_569_465_600_000, using: &generator) }
        for milliseconds in instants {
            #expect(SagaTime(millisecondsSince1970: milliseconds).iso == Self.expected(milliseconds), "\(milliseconds)")
        }
    }
}
