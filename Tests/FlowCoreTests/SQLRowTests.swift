import FlowCore
import Foundation
import Testing

@Suite("SQL rows and UUID text")
struct SQLRowTests {
  @Test("a UUID's text parses by hand as Foundation parses it, in either case")
  func uuidText() throws {
    var random = Xoshiro256(seed: 17)
    for _ in 0..<200 {
      var bytes = [UInt8](repeating: 0, count: 16)
      for index in bytes.indices { bytes[index] = UInt8(truncatingIfNeeded: random.next()) }
      let id = bytes.withUnsafeBytes { UUID(uuid: $0.loadUnaligned(as: uuid_t.self)) }
      #expect(RunStoreSQL.uuid(text: id.uuidString) == id)
      #expect(RunStoreSQL.uuid(text: id.uuidString.lowercased()) == id)
    }
  }

  @Test(
    "text that is not a UUID is nil",
    arguments: [
      "", "not a uuid", "0123456789abcdef0123456789abcdef0123",
      "01234567-89ab-cdef-0123-456789abcdeg", "01234567-89ab-cdef-0123_456789abcdef",
      "01234567-89ab-cdef-0123-456789abcde", "01234567-89ab-cdef-0123-456789abcdef0",
      "0123456é-89ab-cdef-0123-456789abcde",
    ])
  func notUUID(text: String) {
    #expect(RunStoreSQL.uuid(text: text) == nil)
    #expect(UUID(uuidString: text) == nil)
  }

  @Test("a row reads by column name; setting a name replaces, adds or removes it")
  func rowByName() {
    var row = SQLRow(names: ["id", "n"], values: [.text("a"), .integer(2)])
    #expect(row["id"] == .text("a") && row["n"] == .integer(2) && row["x"] == nil)
    row["n"] = .integer(3)
    row["x"] = .null
    #expect(row == ["id": .text("a"), "n": .integer(3), "x": .null])
    row["id"] = nil
    #expect(row.names == ["n", "x"] && row["id"] == nil)
  }
}
