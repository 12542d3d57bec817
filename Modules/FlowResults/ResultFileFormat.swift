import FlowCore
import Foundation

/// The bytes of a stored result file: a magic line, a length-prefixed JSON header (serializer,
/// type, payload length, CRC-32, metadata), then the payload.
///
/// Reading checks every part, so a damaged or truncated file is reported, never decoded.
enum ResultFileFormat {
  static let magic = Data("SWIFTFLOW-RESULT 1\n".utf8)

  private struct Header: Codable {
    var serializer: String
    var type: String
    var length: Int
    var crc32: UInt32
    var metadata: [String: String]
  }

  static func encode(_ result: StoredResult) -> Data {
    let header = Header(
      serializer: result.serializer, type: result.typeName, length: result.payload.count,
      crc32: CRC32.checksum(result.payload), metadata: result.metadata)
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    let headerBytes = try! encoder.encode(header)  // a struct of strings and numbers encodes
    var data = magic
    withUnsafeBytes(of: UInt32(headerBytes.count).littleEndian) { data.append(contentsOf: $0) }
    data.append(headerBytes)
    data.append(result.payload)
    return data
  }

  static func decode(_ data: Data, location: String) throws(ResultStoreError) -> StoredResult {
    func corrupt(_ why: String) -> ResultStoreError {
      ResultStoreError(
        code: .corrupt, location: location,
        message: "\(why); the file is damaged: delete it, or let the task run again to replace it")
    }
    guard data.starts(with: magic) else { throw corrupt("not a result file (bad header)") }
    var offset = magic.count
    guard data.count >= offset + 4 else { throw corrupt("truncated before the header length") }
    let headerLength = data.subdata(in: offset..<offset + 4).withUnsafeBytes {
      Int(UInt32(littleEndian: $0.loadUnaligned(as: UInt32.self)))
    }
    offset += 4
    guard data.count >= offset + headerLength else { throw corrupt("truncated inside the header") }
    let header: Header
    do {
      header = try JSONDecoder().decode(
        Header.self, from: data.subdata(in: offset..<offset + headerLength))
    } catch {
      throw corrupt("unreadable header")
    }
    offset += headerLength
    let payload = data.subdata(in: offset..<data.count)
    guard payload.count == header.length else {
      throw corrupt(
        "payload is \(payload.count) bytes, the header says \(header.length) (truncated)")
    }
    guard CRC32.checksum(payload) == header.crc32 else { throw corrupt("checksum mismatch") }
    return StoredResult(
      serializer: header.serializer, typeName: header.type, payload: payload,
      metadata: header.metadata)
  }
}
