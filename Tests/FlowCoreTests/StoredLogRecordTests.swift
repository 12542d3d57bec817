import FlowCore
import Foundation
import Testing

@Suite("Stored log records: metadata kept split by column")
struct StoredLogRecordTests {
  private static let run = UUID(uuidString: "8C2E6F43-0F3B-4D8E-9A51-7C5E2B1D9F00")!

  private static func record(_ metadata: [String: String]) -> StoredLogRecord {
    StoredLogRecord(
      flowRunID: run, sequence: 3, time: Date(timeIntervalSince1970: 1_772_719_629.25),
      level: StoredLogLevel(rank: 4), message: "hello", metadata: metadata)
  }

  @Test("metadata reads back as given, common keys and others alike; equality follows it")
  func roundTrip() {
    let metadata = [
      "flow": "etl", "flow_run_id": "8c2e", "task": "load", "task_run_id": "1f00",
      "map_index": "2", "attempt": "1", "state": "Running", "user": "ada", "region": "eu",
    ]
    let record = Self.record(metadata)
    #expect(record.metadata == metadata)
    #expect(record.fields.task == "load")
    #expect(record.fields.others == ["user": "ada", "region": "eu"])
    #expect(record.fields.rest == #"{"region":"eu","user":"ada"}"#)
    #expect(record == Self.record(metadata))
    #expect(record != Self.record(metadata.merging(["state": "Success"]) { $1 }))
    #expect(Self.record([:]).fields.rest == "{}")

    var changed = record
    changed.metadata["task"] = nil
    changed.metadata["extra"] = "1"
    #expect(changed.fields.task == nil)
    #expect(changed.metadata["extra"] == "1")
    #expect(changed.metadata.count == metadata.count)
  }

  @Test("split fields and a dictionary of the same metadata make equal records")
  func fieldsEqualDictionary() {
    var fields = StoredLogMetadata()
    fields.flow = "etl"
    fields.task = "load"
    fields["user"] = "ada"
    let split = StoredLogRecord(
      flowRunID: Self.run, sequence: 3, time: Date(timeIntervalSince1970: 1_772_719_629.25),
      level: StoredLogLevel(rank: 4), message: "hello", fields: fields)
    #expect(split == Self.record(["flow": "etl", "task": "load", "user": "ada"]))
  }

  @Test("JSON keeps the metadata as one object, and reads back equal")
  func codable() throws {
    let record = Self.record(["task": "load", "user": "ada"])
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    let json = try encoder.encode(record)
    let object = try #require(
      try JSONSerialization.jsonObject(with: json) as? [String: Any])
    #expect(Set(object.keys) == ["flowRunID", "sequence", "time", "level", "message", "metadata"])
    #expect(object["metadata"] as? [String: String] == ["task": "load", "user": "ada"])
    #expect(try JSONDecoder().decode(StoredLogRecord.self, from: json) == record)
  }
}
