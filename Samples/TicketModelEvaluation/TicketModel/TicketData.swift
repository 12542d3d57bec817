import Foundation
import ZIPFoundation

#if canImport(FoundationNetworking)
  import FoundationNetworking
#endif

/// The incident rows the model needs, as columns: priority and target (seconds).
public struct TicketTable: Sendable, Codable, Equatable {
  /// Each row's priority: 1 Critical, 2 High, 3 Moderate, 4 Low, 0 anything else.
  public var priorities: [UInt8]
  /// Each row's `closed_at - sys_updated_at`, in seconds.
  public var targets: [Double]

  /// An empty table, or one from columns of equal length.
  public init(priorities: [UInt8] = [], targets: [Double] = []) {
    precondition(priorities.count == targets.count, "columns of a table have equal lengths")
    self.priorities = priorities
    self.targets = targets
  }

  /// The number of rows.
  public var count: Int { targets.count }
}

/// A problem with the incident data: where, and what to do.
public struct TicketDataError: Error, Sendable, CustomStringConvertible {
  /// What is wrong.
  public let message: String
  /// True when trying again may help (a network failure, a server error).
  public let isTransient: Bool

  /// The message.
  public var description: String { message }

  /// An error with `message`.
  public init(_ message: String, isTransient: Bool = false) {
    self.message = message
    self.isTransient = isTransient
  }
}

/// Reading the UCI incident event log: from the bundled zip, a file or a URL, as a zip or CSV.
public enum TicketData {
  /// The zip bundled with the sample (CC BY 4.0, see `Resources/LICENSE-DATA.md`).
  public static var bundledArchive: URL? {
    Bundle.module.url(forResource: "incident_event_log", withExtension: "zip")
  }

  /// The table from `url`: `http(s)://` is downloaded, anything else read from disk; a zip
  /// (by its magic bytes) has its `.csv` member extracted, anything else is read as CSV.
  public static func load(from url: URL) async throws -> TicketTable {
    let bytes: [UInt8]
    if url.scheme == "http" || url.scheme == "https" {
      bytes = try await download(url)
    } else {
      do {
        bytes = [UInt8](try Data(contentsOf: url))
      } catch {
        throw TicketDataError(
          "cannot read the incident data at '\(url.path)': \(error.localizedDescription)")
      }
    }
    return try parse(csv: try unzipIfNeeded(bytes, source: url.absoluteString))
  }

  /// Downloads `url` with URLSession; a status other than 200 is an error.
  static func download(_ url: URL) async throws -> [UInt8] {
    let data: Data
    let response: URLResponse
    do {
      (data, response) = try await URLSession.shared.data(from: url)
    } catch {
      throw TicketDataError(
        "cannot download the incident data from \(url.absoluteString): "
          + "\(error.localizedDescription); check the URL and the network", isTransient: true)
    }
    if let http = response as? HTTPURLResponse, http.statusCode != 200 {
      throw TicketDataError(
        "downloading \(url.absoluteString) answered HTTP \(http.statusCode); check the URL",
        isTransient: http.statusCode >= 500)
    }
    return [UInt8](data)
  }

  /// The CSV bytes: `bytes` themselves, or the first `.csv` member when they are a zip.
  public static func unzipIfNeeded(_ bytes: [UInt8], source: String) throws -> [UInt8] {
    guard bytes.count >= 4, bytes[0] == 0x50, bytes[1] == 0x4B, bytes[2] == 3, bytes[3] == 4
    else { return bytes }
    let archive: Archive
    do {
      archive = try Archive(data: Data(bytes), accessMode: .read)
    } catch {
      throw TicketDataError("'\(source)' looks like a zip but cannot be opened: \(error)")
    }
    guard let entry = archive.first(where: { $0.path.hasSuffix(".csv") }) else {
      throw TicketDataError("the zip '\(source)' has no .csv member")
    }
    var csv: [UInt8] = []
    csv.reserveCapacity(Int(entry.uncompressedSize))
    do {
      _ = try archive.extract(entry, bufferSize: 1 << 20, skipCRC32: false) { chunk in
        chunk.withUnsafeBytes { csv.append(contentsOf: $0) }
      }
    } catch {
      throw TicketDataError("cannot extract '\(entry.path)' from '\(source)': \(error)")
    }
    return csv
  }

  /// Parses the event log's CSV bytes: the columns `priority`, `sys_updated_at` and
  /// `closed_at` by name; dates `%d/%m/%Y %H:%M` (day and month unpadded); `?` is missing, and
  /// a row missing either date is left out.
  public static func parse(csv bytes: [UInt8]) throws -> TicketTable {
    try bytes.withUnsafeBufferPointer { try parse(buffer: $0) }
  }

  private static func parse(buffer: UnsafeBufferPointer<UInt8>) throws -> TicketTable {
    let end = buffer.count
    var position = 0
    while position < end && buffer[position] != 0x0A { position += 1 }
    var headerEnd = position
    if headerEnd > 0 && buffer[headerEnd - 1] == 0x0D { headerEnd -= 1 }
    let header = String(
      decoding: UnsafeBufferPointer(rebasing: buffer[0..<headerEnd]), as: UTF8.self
    )
    .split(separator: ",", omittingEmptySubsequences: false).map(String.init)
    func column(_ name: String) throws -> Int {
      guard let index = header.firstIndex(of: name) else {
        throw TicketDataError(
          "the incident data has no '\(name)' column (its header is: \(header.prefix(8).joined(separator: ","))…)"
        )
      }
      return index
    }
    let priorityColumn = try column("priority")
    let updatedColumn = try column("sys_updated_at")
    let closedColumn = try column("closed_at")
    let lastNeeded = max(priorityColumn, updatedColumn, closedColumn)
    position += 1
    var priorities: [UInt8] = []
    var targets: [Double] = []
    let estimate = end / 320 + 16
    priorities.reserveCapacity(estimate)
    targets.reserveCapacity(estimate)
    var line = 2
    while position < end {
      if buffer[position] == 0x0A || buffer[position] == 0x0D {  // an empty line
        position += 1
        line += buffer[position - 1] == 0x0A ? 1 : 0
        continue
      }
      var field = 0
      var fieldStart = position
      var priority: UInt8 = 0
      var updated: Int64? = nil
      var closed: Int64? = nil
      var cursor = position
      // Walk the line's fields; only the three needed ones are looked at.
      while true {
        let atEnd = cursor >= end || buffer[cursor] == 0x0A
        if atEnd || buffer[cursor] == 0x2C {
          var fieldEnd = cursor
          if atEnd && fieldEnd > fieldStart && buffer[fieldEnd - 1] == 0x0D { fieldEnd -= 1 }
          if field == priorityColumn {
            priority = priorityCode(buffer, fieldStart, fieldEnd)
          } else if field == updatedColumn {
            updated = try timestamp(buffer, fieldStart, fieldEnd, line: line)
          } else if field == closedColumn {
            closed = try timestamp(buffer, fieldStart, fieldEnd, line: line)
          }
          field += 1
          if atEnd { break }
          fieldStart = cursor + 1
          if field > lastNeeded {
            // The rest of the line is not needed: skip to its end.
            cursor = fieldStart
            while cursor < end && buffer[cursor] != 0x0A { cursor += 1 }
            break
          }
        }
        cursor += 1
      }
      if field <= lastNeeded {
        throw TicketDataError(
          "incident data, line \(line): \(field) fields, but the header has \(header.count)")
      }
      if let updated, let closed {
        priorities.append(priority)
        targets.append(Double(closed - updated))
      }
      position = cursor + 1
      line += 1
    }
    return TicketTable(priorities: priorities, targets: targets)
  }

  /// 1 for `1 - Critical`, 2 for `2 - High`, 3 for `3 - Moderate`, 4 for `4 - Low`, else 0.
  @inline(__always)
  static func priorityCode(_ buffer: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int) -> UInt8
  {
    let known: [(UInt8, StaticString)] = [
      (1, "1 - Critical"), (2, "2 - High"), (3, "3 - Moderate"), (4, "4 - Low"),
    ]
    guard end > start else { return 0 }
    for (code, label) in known where end - start == label.utf8CodeUnitCount {
      let text = label.utf8Start
      var matches = true
      for offset in 0..<(end - start) where buffer[start + offset] != text[offset] {
        matches = false
        break
      }
      if matches { return code }
    }
    return 0
  }

  /// Seconds since 1970 of `d/m/yyyy H:MM` read as UTC; nil for `?`.
  @inline(__always)
  static func timestamp(
    _ buffer: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int, line: Int
  ) throws -> Int64? {
    if end - start == 1 && buffer[start] == 0x3F { return nil }
    var cursor = start
    @inline(__always) func number(until separator: UInt8?) -> Int? {
      var value = 0
      var digits = 0
      while cursor < end, buffer[cursor] != separator ?? 0xFF {
        let digit = Int(buffer[cursor]) - 48
        guard digit >= 0 && digit <= 9 else { return nil }
        value = value * 10 + digit
        digits += 1
        cursor += 1
      }
      if separator != nil {
        guard cursor < end else { return nil }
        cursor += 1
      }
      return digits > 0 ? value : nil
    }
    guard let day = number(until: 0x2F), let month = number(until: 0x2F),
      let year = number(until: 0x20), let hour = number(until: 0x3A),
      let minute = number(until: nil),
      (1...31).contains(day), (1...12).contains(month), hour < 24, minute < 60
    else {
      let text = String(decoding: UnsafeBufferPointer(rebasing: buffer[start..<end]), as: UTF8.self)
      throw TicketDataError(
        "incident data, line \(line): '\(text)' is not a date like 29/2/2016 01:16 or '?'")
    }
    return daysFromCivil(year, month, day) * 86_400 + Int64(hour * 3600 + minute * 60)
  }

  /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
  static func daysFromCivil(_ year: Int, _ month: Int, _ day: Int) -> Int64 {
    let y = Int64(month <= 2 ? year - 1 : year)
    let era = (y >= 0 ? y : y - 399) / 400
    let yearOfEra = y - era * 400
    let m = Int64(month)
    let dayOfYear = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + Int64(day) - 1
    let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
    return era * 146_097 + dayOfEra - 719_468
  }
}
