import Foundation
import Testing

@testable import FlowClusterProtocol

/// The attempt report in binary with its result (protocol version 6): round trips, its size,
/// and malformed reports refused with a typed error.
@Suite struct AttemptReportWireTests {
  static let started = Date(timeIntervalSince1970: 1_700_000_000.125)
  static let ended = Date(timeIntervalSince1970: 1_700_000_000.25)

  static func report(load: Double? = 0.75, succeeded: Bool = true, worker: String = "")
    -> ClusterAttemptReport
  {
    ClusterAttemptReport(
      worker: worker, thread: 3, threads: 4, running: 2, started: started, ended: ended,
      load: load, succeeded: succeeded)
  }

  static func decode(_ frame: [UInt8]) throws(ClusterProtocolError) -> [ClusterMessage] {
    try ClusterWireFormat.decodeBody(Array(frame[ClusterWireFormat.prefixSize...]))
  }

  @Test func resultsWithReportsRoundTrip() throws {
    let results: [ClusterTaskResult] = [
      ClusterTaskResult(
        taskID: 1, outcome: .success([6]), runNanoseconds: 900, report: Self.report()),
      ClusterTaskResult(
        taskID: 2, outcome: .success([]), runNanoseconds: 1, report: Self.report(load: nil)),
      ClusterTaskResult(
        taskID: 3, outcome: .failure(code: "taskFailed", message: "boom"),
        logs: [ClusterLogRecord(time: 1.5, level: "info", message: "hi", metadata: ["k": "v"])],
        error: ClusterErrorInfo(typeName: "App.Boom"), runNanoseconds: 7,
        report: Self.report(succeeded: false)),
      ClusterTaskResult(
        taskID: 4, outcome: .failure(code: "skip", message: "no"),
        report: Self.report(load: 0, succeeded: false)),
      ClusterTaskResult(taskID: 5, outcome: .success([1, 2])),  // no report
    ]
    let message = ClusterMessage.results(results)
    #expect(try Self.decode(ClusterWireFormat.encodeFrame([message])) == [message])
  }

  @Test("the worker's name is not sent, and whether it succeeded follows from the outcome")
  func nameAndSuccessAreNotOnTheWire() throws {
    let sent = ClusterTaskResult(
      taskID: 9, outcome: .failure(code: "taskFailed", message: "x"),
      report: Self.report(succeeded: true, worker: "host:1"))
    let decoded = try Self.decode(ClusterWireFormat.encodeFrame([.results([sent])]))
    guard case .results(let results) = decoded.first, let report = results.first?.report else {
      Issue.record("no report: \(decoded)")
      return
    }
    #expect(report == Self.report(succeeded: false, worker: ""))
  }

  @Test("a report takes a few bytes, not a log record of strings")
  func compact() {
    let results = (1...64).map {
      ClusterTaskResult(
        taskID: ClusterTaskID(1000 + $0), outcome: .success([6]), runNanoseconds: 2_000,
        report: Self.report())
    }
    let frame = ClusterWireFormat.encodeFrame([.results(results)])
    // Per result: ID 2, outcome 1, payload 2, logs 1, run time 2, report 3 + 16 + 8.
    #expect(frame.count <= 64 * 36 + 16, "\(frame.count) bytes")
  }

  @Test func theReportReadsBackFromItsLogRecord() {
    let report = Self.report(load: 1.25, worker: "host:7")
    #expect(ClusterAttemptReport(metadata: report.metadata) == report)
    #expect(report.message == "ran on worker thread 4 of 4 in 0.125 s")
    #expect(ClusterAttemptReport(metadata: Self.report(load: nil).metadata)?.load == nil)
  }

  /// The body of a frame holding one result with a report, and the index of its outcome byte.
  static func reportFrame(load: Double? = 0.5) -> (body: [UInt8], outcome: Int) {
    let frame = ClusterWireFormat.encodeFrame([
      .results([
        ClusterTaskResult(taskID: 1, outcome: .success([]), report: report(load: load))
      ])
    ])
    // Magic (2), message count, tag, result count, task ID: then the outcome byte.
    return (Array(frame[ClusterWireFormat.prefixSize...]), 6)
  }

  static func expectMalformed(_ body: [UInt8], _ comment: Comment) {
    do {
      let messages = try ClusterWireFormat.decodeBody(body)
      Issue.record("accepted \(messages): \(comment)")
    } catch {
      #expect(error.code == .malformedFrame, comment)
    }
  }

  @Test func malformedReportsAreRefusedWithATypedError() {
    let (body, outcome) = Self.reportFrame()
    #expect(body[outcome] == 0x0C)  // success, a report, with a load
    var loadWithoutReport = body
    loadWithoutReport[outcome] = 0x08
    Self.expectMalformed(loadWithoutReport, "a load flag without a report")
    var unknownBits = body
    unknownBits[outcome] |= 0x10
    Self.expectMalformed(unknownBits, "an outcome byte with unknown bits")
    var noLoad = body
    noLoad[outcome] = 0x04  // the load's 8 bytes are left over
    Self.expectMalformed(noLoad, "stray bytes after a report without its load")
    for cut in 1...25 {
      Self.expectMalformed(Array(body.dropLast(cut)), "a report cut short by \(cut) bytes")
    }
    // A thread number that overflows an Int.
    let (plain, index) = Self.reportFrame(load: nil)
    let reportStart = index + 1 + 1 + 1 + 1  // outcome, payload length, log count, run time
    var overflow = Array(plain[..<reportStart])
    overflow += [UInt8](repeating: 0xFF, count: 9) + [0x01]
    overflow += Array(plain[(reportStart + 1)...])
    Self.expectMalformed(overflow, "a thread number over Int.max")
  }
}
