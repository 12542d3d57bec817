import FlowClusterProtocol
import FlowCore
import Foundation
import Testing

@testable import FlowCluster

struct CodedPoint: Codable, Sendable, Equatable {
  var x: Int
  var y: Int
}

@Suite struct ValueCodingTests {
  func roundTrip<T: Sendable>(_ value: T) throws -> (bytes: [UInt8], value: T) {
    let serializer = try #require(ResultSerializer.automatic(for: T.self))
    let bytes = try ClusterValueCoding.encode(value, serializer)
    let decoded = try ClusterValueCoding.decode(bytes, serializer, at: "test")
    return (bytes, try #require(decoded as? T))
  }

  @Test func commonValuesTravelCompactlyAndComeBackEqual() throws {
    #expect(try roundTrip(-3).value == -3)
    #expect(try roundTrip(Int.max).value == Int.max)
    #expect(try roundTrip(Int.min).value == Int.min)
    #expect(try roundTrip(2.5).value == 2.5)
    #expect(try roundTrip(true).value == true)
    #expect(try roundTrip("héllo").value == "héllo")
    #expect(try roundTrip(Data([0, 1, 255])).value == Data([0, 1, 255]))
    #expect(try roundTrip([1, -2, 300]).value == [1, -2, 300])
    #expect(try roundTrip([0.5, -1e300]).value == [0.5, -1e300])
    #expect(try roundTrip([true, false]).value == [true, false])
    #expect(try roundTrip(["a", "", "ß"]).value == ["a", "", "ß"])
    #expect(try roundTrip(()).bytes == [ClusterValueCoding.void])
    #expect(try roundTrip(42).bytes == [ClusterValueCoding.int, 84])  // zig-zag varint
    #expect(try roundTrip(1.0).bytes.count == 9)
  }

  @Test func otherTypesGoThroughTheirSerializer() throws {
    let point = try roundTrip(CodedPoint(x: 1, y: 2))
    #expect(point.value == CodedPoint(x: 1, y: 2))
    #expect(point.bytes == [0] + Array(#"{"x":1,"y":2}"#.utf8))
    // An optional stays an optional, although `Int?` holding 5 casts to `Int`.
    let optional = try roundTrip(Int?.some(5))
    #expect(optional.value == 5)
    #expect(optional.bytes.first == 0)
    #expect(try roundTrip(Int?.none).value == nil)
  }

  @Test func nonFiniteDoublesAreRefusedAsTheSerializerRefusesThem() throws {
    let serializer = try #require(ResultSerializer.automatic(for: Double.self))
    #expect(throws: ResultStoreError.self) {
      try ClusterValueCoding.encode(Double.nan, serializer)
    }
    let arrays = try #require(ResultSerializer.automatic(for: [Double].self))
    #expect(throws: ResultStoreError.self) {
      try ClusterValueCoding.encode([1, Double.infinity], arrays)
    }
  }

  @Test func aCompactValueOfAnotherTypeOrTruncatedBytesAreErrors() throws {
    let strings = try #require(ResultSerializer.automatic(for: String.self))
    let ints = try #require(ResultSerializer.automatic(for: Int.self))
    let int = try ClusterValueCoding.encode(7, ints)
    #expect(throws: ResultStoreError.self) {
      try ClusterValueCoding.decode(int, strings, at: "input 1")
    }
    #expect(throws: ResultStoreError.self) {
      try ClusterValueCoding.decode([ClusterValueCoding.int], ints, at: "input 1")
    }
    #expect(throws: ResultStoreError.self) {
      try ClusterValueCoding.decode(int + [0], ints, at: "input 1")
    }
    #expect(throws: ResultStoreError.self) { try ClusterValueCoding.decode([], ints, at: "x") }
    #expect(throws: ResultStoreError.self) { try ClusterValueCoding.decode([99], ints, at: "x") }
  }
}
