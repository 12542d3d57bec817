import FlowCore
import FlowLogging
import Foundation
import Logging
import Synchronization
import Testing

/// A record rendered when it is read (``RunLog/Event/rendered(_:)``): what the run log keeps
/// for each cluster attempt's report.
@Suite("Run logs: records rendered when read")
struct RenderedRecordTests {
  struct Report: RunLogRendering {
    let thread: Int
    var message: String { "ran on thread \(thread)" }
    var metadata: [String: String] { ["cluster.thread": String(thread), "state": "Custom"] }
  }

  static let runID = UUID(uuidString: "E621E1F8-C36C-495A-93FC-0C247A3E6E5F")!
  static let taskRunID = UUID(uuidString: "A621E1F8-C36C-495A-93FC-0C247A3E6E5F")!
  static let subject = RunLog.Subject(task: "load-2", taskRunID: taskRunID, mapIndex: 3, attempt: 2)

  @Test("its message and metadata appear with the run's and the task's keys, in every form")
  func renderedInEveryForm() {
    let sunk = Mutex<[LogRecord]>([])
    let stored = Mutex<[StoredLogRecord]>([])
    let log = RunLog(
      flowName: "etl", flowRunID: Self.runID,
      sink: { record in sunk.withLock { $0.append(record) } },
      storedSink: { record in stored.withLock { $0.append(record) } })
    let time = Date(timeIntervalSince1970: 1_700_000_000.25)
    log.append(.rendered(Report(thread: 4)), level: .info, at: time, subject: Self.subject)
    let records = log.records
    #expect(records.count == 1)
    let record = records[0]
    #expect(record.message == "ran on thread 4")
    #expect(record.time == time)
    #expect(record.level == .info)
    #expect(
      record.metadata == [
        "cluster.thread": "4", "state": "Custom", "flow": "etl",
        "flow_run_id": Self.runID.uuidString.lowercased(), "task": "load-2",
        "task_run_id": Self.taskRunID.uuidString.lowercased(), "map_index": "3", "attempt": "2",
      ])
    #expect(sunk.withLock { $0 } == records)
    let kept = stored.withLock { $0 }
    #expect(kept.count == 1)
    #expect(kept.first?.message == "ran on thread 4")
    #expect(kept.first?.metadata == record.metadata)
  }

  @Test("below the log's level it is not kept")
  func belowTheLevel() {
    let log = RunLog(flowName: "etl", flowRunID: Self.runID, level: .warning)
    log.append(.rendered(Report(thread: 1)), level: .info, at: Date(), subject: Self.subject)
    #expect(log.records.isEmpty)
  }
}
