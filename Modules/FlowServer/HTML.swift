import Foundation
import HTTPTypes
import Hummingbird

/// Markup built by interpolation: every interpolated `String` is escaped, so a value from a
/// flow, task, parameter or log line can only ever be text. Trusted markup is interpolated as
/// `HTML`.
struct HTML: Sendable, ExpressibleByStringInterpolation {
  /// The markup.
  var text: String

  init(stringLiteral value: String) { text = value }
  init(stringInterpolation: StringInterpolation) { text = stringInterpolation.text }
  init(trusted text: String) { self.text = text }

  struct StringInterpolation: StringInterpolationProtocol {
    var text = ""

    init(literalCapacity: Int, interpolationCount: Int) {
      text.reserveCapacity(literalCapacity + interpolationCount * 16)
    }

    mutating func appendLiteral(_ literal: String) { text += literal }
    mutating func appendInterpolation(_ value: String) { HTML.escape(value, into: &text) }
    mutating func appendInterpolation(_ value: String?) {
      if let value { HTML.escape(value, into: &text) }
    }
    mutating func appendInterpolation(_ value: HTML) { text += value.text }
    mutating func appendInterpolation(_ values: [HTML]) {
      for value in values { text += value.text }
    }
    mutating func appendInterpolation(_ value: Int) { text += String(value) }
    mutating func appendInterpolation(_ value: Double, digits: Int) {
      text += String(format: "%.\(digits)f", value)
    }
  }

  /// Appends `value` with `&`, `<`, `>`, `"` and `'` escaped.
  static func escape(_ value: String, into text: inout String) {
    var plain = true
    for byte in value.utf8 where byte == 38 || byte == 60 || byte == 62 || byte == 34 || byte == 39
    {
      plain = false
      break
    }
    if plain {
      text += value
      return
    }
    for character in value.unicodeScalars {
      switch character {
      case "&": text += "&amp;"
      case "<": text += "&lt;"
      case ">": text += "&gt;"
      case "\"": text += "&quot;"
      case "'": text += "&#39;"
      default: text.unicodeScalars.append(character)
      }
    }
  }

  /// `value` escaped.
  static func escaped(_ value: String) -> String {
    var text = ""
    escape(value, into: &text)
    return text
  }
}

/// HTML responses.
enum HTMLResponse {
  /// A page with strict security headers: no script but our own, no framing, no sniffing.
  static func page(_ html: HTML, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:])
    -> Response
  {
    var fields: HTTPFields = [
      .contentType: "text/html; charset=utf-8", .cacheControl: "no-store",
      HTTPField.Name("Content-Security-Policy")!:
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        + "frame-ancestors 'none'; form-action 'self'",
      HTTPField.Name("X-Content-Type-Options")!: "nosniff",
      HTTPField.Name("Referrer-Policy")!: "same-origin",
    ]
    fields.append(contentsOf: headers)
    return Response(
      status: status, headers: fields, body: ResponseBody(byteBuffer: ByteBuffer(string: html.text))
    )
  }
}

/// The frame around every page.
enum Layout {
  static func page(title: String, body: HTML, bodyAttributes: HTML = "") -> HTML {
    """
    <!DOCTYPE html>
    <html lang="en"><head><meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>\(title) · swift-flow</title>
    <link rel="stylesheet" href="/assets/flow.css"><script src="/assets/flow.js" defer></script>
    </head><body\(bodyAttributes)>
    <header><a class="brand" href="/runs">swift-flow</a><nav><a href="/dashboard">Dashboard</a><a href="/runs">Runs</a>
    <a href="/deployments">Deployments</a><a href="/flows">Flows</a><a href="/api/openapi.json">API</a><a href="/metrics">Metrics</a></nav>
    </header>
    <main>\(body)</main>
    </body></html>
    """
  }

  /// A state's badge.
  static func badge(_ state: String) -> HTML {
    "<span class=\"badge s-\(cssState(state))\">\(state)</span>"
  }

  /// The CSS class suffix of a state (`Success`); letters only, so never markup.
  static func cssState(_ state: String) -> String {
    // The usual case, ASCII letters only, without a character-set lookup per character (a
    // 10,000-task page asks this for every node and bar).
    if !state.isEmpty,
      state.utf8.allSatisfy({ (65...90).contains($0) || (97...122).contains($0) })
    {
      return state
    }
    let letters = state.unicodeScalars.filter { CharacterSet.letters.contains($0) }
    return letters.isEmpty ? "Unknown" : String(String.UnicodeScalarView(letters))
  }

  /// `date` as `2026-12-03 07:12:45` (UTC).
  static func time(_ date: Date?) -> String {
    guard let date else { return "" }
    // The C library's UTC breakdown: Foundation's formatter costs tens of microseconds a call,
    // and a run page has a time per task row and log line.
    var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
    var parts = tm()
    if seconds >= 0, gmtime_r(&seconds, &parts) != nil {
      func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : String(value) }
      return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday)) "
        + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))"
    }
    let text = RunStoreTime.iso8601(date)
    return String(text.prefix(19)).replacingOccurrences(of: "T", with: " ")
  }

  /// `value` (≥ 0) with `digits` decimals (1 to 3), like `String(format: "%.1f")` but without
  /// Foundation's formatter, which the SVG of a large run calls tens of thousands of times.
  static func fixed(_ value: Double, digits: Int) -> String {
    guard value.isFinite, value >= 0, value < 1e12 else {
      return String(format: "%.\(digits)f", value)
    }
    let scale = digits == 1 ? 10 : digits == 2 ? 100 : 1000
    let scaled = Int((value * Double(scale)).rounded())
    let fraction = String(scaled % scale)
    let padding = String(repeating: "0", count: String(scale).count - 1 - fraction.count)
    return "\(scaled / scale).\(padding)\(fraction)"
  }

  /// Appends `value` with `digits` decimals (1 to 3), as ``fixed(_:digits:)`` writes it.
  static func appendFixed(_ value: Double, digits: Int, to text: inout String) {
    guard value.isFinite, value >= 0, value < 1e12 else {
      text += fixed(value, digits: digits)
      return
    }
    let scale = digits == 1 ? 10 : digits == 2 ? 100 : 1000
    let scaled = Int((value * Double(scale)).rounded())
    text += String(scaled / scale)
    text += "."
    var fraction = scaled % scale
    var divisor = scale / 10
    while divisor > 0 {
      text.unicodeScalars.append(Unicode.Scalar(UInt8(48 + fraction / divisor)))
      fraction %= divisor
      divisor /= 10
    }
  }

  /// An age as `12 s`, `5 min` or `3 h`.
  static func age(_ seconds: Double) -> String {
    if seconds < 120 { return "\(Int(seconds)) s" }
    if seconds < 7200 { return "\(Int(seconds) / 60) min" }
    return "\(Int(seconds) / 3600) h"
  }

  /// A duration as `1.234 s`, `2 min 3 s` or `1 h 2 min`.
  static func duration(_ seconds: TimeInterval?) -> String {
    guard let seconds, seconds >= 0 else { return "" }
    if seconds < 60 { return fixed(seconds, digits: 3) + " s" }
    if seconds < 3600 { return "\(Int(seconds) / 60) min \(Int(seconds) % 60) s" }
    return "\(Int(seconds) / 3600) h \(Int(seconds) % 3600 / 60) min"
  }
}
